package httpapi

import (
	"net/http"
	"sync"
	"testing"

	"github.com/hashike/hashike/internal/apitest"
)

// checkedDoc is openapi.json, loaded once for every test's checks.
var checkedDoc = sync.OnceValues(func() (*apitest.Document, error) { return apitest.Load(openAPI) })

// checked wraps h so that every exchange a test makes with it is checked against
// openapi.json (internal/apitest): each response's status and body, each accepted request.
func checked(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	doc, err := checkedDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc.For(t).Handler(h)
}
