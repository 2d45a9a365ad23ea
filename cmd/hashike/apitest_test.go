package main_test

import (
	"sync"
	"testing"

	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/apitest"
)

var apiDoc = sync.OnceValues(func() (*apitest.Document, error) { return apitest.Load(httpapi.OpenAPIDocument()) })

// checkedURL puts a proxy that checks every exchange against openapi.json (internal/apitest)
// in front of a server the test started, and returns the URL the CLI is then given: every
// request the CLI makes, and every answer, is checked.
func checkedURL(t testing.TB, serverURL string) string {
	t.Helper()
	doc, err := apiDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc.For(t).Proxy(serverURL)
}
