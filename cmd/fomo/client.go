package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/fomonet/fomo/node/api/client"
)

// apiDo calls a node's API at rawURL (the node's address and the path)
// through node/api/client and decodes its JSON answer into out; an error
// answer becomes an error carrying the node's message.
func apiDo(ctx context.Context, method, rawURL string, body []byte, out any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not a node URL", rawURL)
	}
	c, err := client.New(u.Scheme + "://" + u.Host)
	if err != nil {
		return err
	}
	return c.Do(ctx, method, u.RequestURI(), "application/octet-stream", body, out)
}
