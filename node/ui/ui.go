// Package ui is the node's dashboard: a static page (HTML, CSS and
// JavaScript modules, embedded in the binary) that the node serves at /ui.
// The page reads the node's own JSON endpoints (/api/v1/status, gpus,
// peers, receipts, chain, accounts, epochs) and refreshes every few
// seconds; it needs no build step and nothing beyond the node.
package ui

import (
	"embed"
	"net/http"
	"net/url"
	"strings"
)

//go:embed static
var static embed.FS

// csp lets the page load its own files and call its own node, nothing
// else: data from the node is never run or loaded as markup.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard: /ui redirects to /ui/, which is the page,
// and /ui/<file> are its assets; any other path answers 404.
func Handler() http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/ui/")
		if !ok {
			if r.URL.Path == "/ui" {
				http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
			} else {
				http.NotFound(w, r)
			}
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path, r2.URL.RawPath = "/static/"+rest, ""
		files.ServeHTTP(w, r2)
	})
}
