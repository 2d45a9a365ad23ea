package main_test

import (
	"testing"

	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/apitest"
)

// checkedURL puts a proxy that checks every exchange against openapi.json (internal/apitest)
// in front of a server the test started, and returns the URL the CLI is then given: every
// request the CLI makes, and every answer, is checked.
func checkedURL(t testing.TB, serverURL string) string {
	t.Helper()
	return apitest.ProxyFor(t, httpapi.OpenAPIDocument(), serverURL)
}
