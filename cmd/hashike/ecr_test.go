package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// ecrTokens calls ECR's GetAuthorizationToken with the real SDK client, signed for the
// registry's own region, and returns the token as ECR sends it.
func TestECRTokensWire(t *testing.T) {
	var target, auth string
	var body struct {
		RegistryIds []string `json:"registryIds"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, auth = r.Header.Get("X-Amz-Target"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"authorizationData":[{"authorizationToken":"QVdTOnB3","expiresAt":1.8E9,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1") // the registry's region must win
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	tok, err := ecrTokens{endpoint: srv.URL}.AuthorizationToken(context.Background(), "eu-west-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if tok != "QVdTOnB3" {
		t.Errorf("token %q", tok)
	}
	if target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
		t.Errorf("X-Amz-Target %q", target)
	}
	if len(body.RegistryIds) != 1 || body.RegistryIds[0] != "123456789012" {
		t.Errorf("registryIds %q", body.RegistryIds)
	}
	if !strings.Contains(auth, "/eu-west-1/ecr/aws4_request") {
		t.Errorf("not signed for eu-west-1's ECR: %q", auth)
	}
}
