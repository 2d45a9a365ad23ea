// Package api is the contract between hashike server's core and its transports: the Service
// interface and the request and view types its methods take and return. *server.Server
// implements Service; the JSON API (package httpapi) serves any Service over HTTP, and its
// Client speaks the same interface back to the CLI's client mode and the web console. The
// types carry their JSON tags: they are the API's bodies.
//
// The package holds no behaviour beyond small helpers on its types; it imports only the
// domain (the root package, cron, job).
package api
