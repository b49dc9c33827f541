package infer

import (
	"github.com/fomonet/fomo/p2p/infer/pb"
	"github.com/fomonet/fomo/runtime"
)

func apiToPB(a runtime.API) (pb.API, bool) {
	switch a {
	case runtime.APIChat:
		return pb.API_API_CHAT, true
	case runtime.APICompletion:
		return pb.API_API_COMPLETION, true
	case runtime.APIEmbedding:
		return pb.API_API_EMBEDDING, true
	}
	return pb.API_API_UNSPECIFIED, false
}

func apiFromPB(a pb.API) (runtime.API, bool) {
	switch a {
	case pb.API_API_CHAT:
		return runtime.APIChat, true
	case pb.API_API_COMPLETION:
		return runtime.APICompletion, true
	case pb.API_API_EMBEDDING:
		return runtime.APIEmbedding, true
	}
	return "", false
}

func usageToPB(u runtime.Usage) *pb.Usage {
	return &pb.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Estimated: u.Estimated}
}

func usageFromPB(u *pb.Usage) runtime.Usage {
	if u == nil {
		return runtime.Usage{}
	}
	return runtime.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Estimated: u.Estimated}
}

func errorToPB(e *runtime.Error) *pb.Error {
	if e == nil {
		return nil
	}
	out := &pb.Error{Status: int32(e.Status), Type: e.Type, Message: e.Message}
	if e.Param != nil {
		out.Param = *e.Param
	}
	if e.Code != nil {
		out.Code = *e.Code
	}
	return out
}

// errorFromPB rebuilds the OpenAI error a provider sent. Out-of-range
// statuses and empty types are repaired so the error can be sent to an HTTP
// client as is.
func errorFromPB(e *pb.Error) *runtime.Error {
	status := int(e.GetStatus())
	if status < 400 || status > 599 {
		status = 502
	}
	typ := e.GetType()
	if typ == "" {
		typ = runtime.TypeForStatus(status)
	}
	msg := e.GetMessage()
	if msg == "" {
		msg = "the provider reported an error without a message"
	}
	out := runtime.Errorf(status, typ, e.GetParam(), "%s", msg)
	if e.GetCode() != "" {
		out = out.WithCode(e.GetCode())
	}
	return out
}

func finishFromPB(s string, failed bool) runtime.FinishReason {
	switch f := runtime.FinishReason(s); f {
	case runtime.FinishStop, runtime.FinishLength, runtime.FinishCancelled, runtime.FinishError:
		return f
	}
	if failed {
		return runtime.FinishError
	}
	return runtime.FinishStop
}
