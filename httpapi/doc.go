// Package httpapi is hashike server's HTTP API: a net/http handler over an api.Service (the
// server's core, which knows nothing of HTTP) and a Client for the CLI's --server mode.
//
// Every body is JSON, and every error body has the same shape:
//
//	{"error":{"code":"invalid","message":"...","fields":[{"path":"priority","message":"..."}]}}
//
// The code is a hashike.ErrorCode (mapped to a status by statusOf, the only place that
// does), or one of the HTTP-only codes "unauthorized" (401), "forbidden" (403) and
// "method_not_allowed" (405). The routes, their scopes and their query parameters are listed
// once, in routes; openapi.json describes the same routes and a test keeps the two equal.
//
// Request bodies are decoded strictly: an unknown field, a value of the wrong type or data
// after the JSON value is refused (400) with the offending field named, and a body larger
// than its limit is refused (413) before more than the limit is read.
package httpapi
