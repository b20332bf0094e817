// Package web holds the browser app: plain ES modules, HTML and CSS served
// as they are, embedded into the konsil binary. There is no build step.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:static
var static embed.FS

// Handler serves the app. Paths that are not files (like /r/{token}) get
// index.html, so a link opens the app, which reads the token from the path.
func Handler() http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServer(http.FS(root))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/app")
		if p == "" || p == "/" || strings.HasPrefix(r.URL.Path, "/r/") {
			http.ServeFileFS(w, r, root, "index.html")
			return
		}
		if r.URL.Path == "/practice" || r.URL.Path == "/practice/" {
			http.ServeFileFS(w, r, root, "workspace.html")
			return
		}
		// Files only: no directory listing (or its redirect to one).
		if st, err := fs.Stat(root, strings.Trim(p, "/")); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		files.ServeHTTP(w, r2)
	})
}
