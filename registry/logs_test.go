package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/logs"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
)

// TestNoSecretInLogs turns on every go-containerregistry log, including
// request dumps, and checks that no password, token or Authorization value
// reaches them. Not parallel: the loggers are global (parallel tests wait
// until sequential ones finish).
func TestNoSecretInLogs(t *testing.T) {
	var buf bytes.Buffer
	for _, l := range []**log.Logger{&logs.Warn, &logs.Progress, &logs.Debug} {
		old := *l
		*l = log.New(&buf, "", 0)
		t.Cleanup(func() { *l = old })
	}
	ctx := context.Background()

	const user, pass = "erin", "log-secret-pw-4242"
	basicReg := testutil.StartRegistry(t, testutil.WithHandlerWrap(basicAuth(user, pass)))
	const tuser, tpass, token = "frank", "log-token-pw-5151", "log-token-abcdef987"
	var addr string
	tokenReg := testutil.StartRegistry(t, testutil.WithHandlerWrap(tokenServer(tuser, tpass, token, &addr)))
	addr = tokenReg.Addr

	var errs bytes.Buffer
	for _, c := range []*registry.Client{
		newClient(t, basicReg.Addr, registry.WithBasicAuth(user, pass)),
		newClient(t, basicReg.Addr, registry.WithBasicAuth(user, "x"+pass)),
		newClient(t, tokenReg.Addr, registry.WithBasicAuth(tuser, tpass)),
		newClient(t, tokenReg.Addr, registry.WithBasicAuth(tuser, "x"+tpass)),
	} {
		if _, err := c.PushPolicy(ctx, registry.PolicyTag, []byte(`{"version":"v1"}`)); err != nil {
			io.WriteString(&errs, err.Error()+"\n")
		}
		if _, err := c.PullPolicy(ctx, registry.PolicyTag); err != nil {
			io.WriteString(&errs, err.Error()+"\n")
		}
		if _, err := c.Tags(ctx, "missing"); err != nil {
			io.WriteString(&errs, err.Error()+"\n")
		}
	}
	if !strings.Contains(buf.String(), "Authorization") && !strings.Contains(buf.String(), "authorization") {
		t.Fatalf("debug log has no request dumps; the test checks nothing:\n%.2000s", buf.String())
	}
	all := buf.String() + errs.String()
	for _, secret := range []string{
		pass, tpass, token,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)),
		base64.StdEncoding.EncodeToString([]byte(tuser + ":" + tpass)),
	} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q appears in logs or errors", secret)
		}
	}
}
