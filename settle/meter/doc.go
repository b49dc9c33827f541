// Package meter pays for inference requests (DESIGN §6–§7).
//
// At the HTTP API of the node a client reaches first, [Meter.Begin] turns
// the client's credentials (a session key as API key, an authorization the
// client signed itself, the network's open-access key, or a gateway user's
// key) into the request's payment, and reserves the request's maximum
// charge against the account's credit and the session key's spend limit
// before any runtime runs. The payment travels with the request as data
// ([runtime.Request.Payment]): an authorization signed once the serving
// node is known, naming it as the one payee.
//
// Where the request is served, the backend returned by [Meter.Wrap]
// verifies the authorization (a request that came over the inference
// protocol) or takes the entry node's own, refuses a replayed one, clamps
// the generation to what the authorization pays for, counts the stream,
// and at its end signs the receipt, stores it in the receipt pool and
// hands it to the payment. [Ticket.Finish] gives the entry node the
// receipt to return to the client; a receipt signed by another node is
// verified there once, on arrival.
//
// Who may pay, and how much, comes from a [Payers]: the local account
// registry file ([OpenRegistry]) or the settlement chain's state.
package meter
