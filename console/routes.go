package console

import (
	"github.com/hashike/hashike"
)

// routes lists every route of the console, with the scope each needs. A page of another
// helper's (jobs, queues, ...) is added here and in templates/.
func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /ui/assets/{name}", c.serveAsset)
	m.HandleFunc("GET /ui/login", c.login)
	m.HandleFunc("POST /ui/login", c.login)
	m.Handle("POST /ui/logout", c.page(hashike.ScopeRead, c.logout))
	m.Handle("GET /ui/{$}", c.page(hashike.ScopeRead, c.dashboard))

	m.Handle("GET /ui/runs", c.page(hashike.ScopeRead, c.runsPage))
	m.Handle("GET /ui/runs/{id}", c.page(hashike.ScopeRead, c.runPage))
	m.Handle("GET /ui/runs/{id}/logs/stream", c.page(hashike.ScopeRead, c.logStream))
	m.Handle("GET /ui/runs/{id}/logs.txt", c.page(hashike.ScopeRead, c.logText))
	m.Handle("GET /ui/runs/{id}/result", c.page(hashike.ScopeRead, c.resultDownload))
	m.Handle("POST /ui/runs/{id}/cancel", c.page(hashike.ScopeSubmit, c.cancel))
	m.Handle("POST /ui/runs/{id}/rerun", c.page(hashike.ScopeSubmit, c.rerun))
	m.Handle("GET /ui/enqueue", c.page(hashike.ScopeSubmit, c.enqueueForm))
	m.Handle("POST /ui/enqueue", c.page(hashike.ScopeSubmit, c.enqueue))
	c.pageRoutes(m)
}
