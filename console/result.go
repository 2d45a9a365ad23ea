package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// resultInlineLimit is how much of a run's result its page shows; the download link serves
// all of it.
const resultInlineLimit = 64 << 10

// runUsage is the run page's Usage part: the right-sizing lines hashike describe prints.
type runUsage struct {
	Memory, CPU, Measured string
}

// usageView is nil for a run whose usage was not measured.
func usageView(r *hashike.Run, now time.Time) *runUsage {
	if r.Usage == nil {
		return nil
	}
	memory, cpu := hashike.RightSizing(*r.Usage, r.Resources, r.Ran(now))
	return &runUsage{Memory: memory, CPU: cpu, Measured: r.Usage.Measured()}
}

// runResult is the run page's Result part.
type runResult struct {
	Size        string
	ContentType string
	// Text is the result's first resultInlineLimit bytes: indented when it is JSON.
	Text      string
	Truncated bool
	// Binary: the result is not UTF-8 text; the page offers the download only.
	Binary bool
	// Refused says why the result was not kept (over the server's limit).
	Refused string
	// Unreadable says why a kept result cannot be read now.
	Unreadable string
}

// resultView reads the run's result for its page: nil when the run recorded none. Only an
// error of the kind the API reports (not found, too large) is shown as it is; any other is
// logged and the page says the result cannot be read now.
func (c *Console) resultView(ctx context.Context, v api.RunView) *runResult {
	var o *hashike.RunObject
	for i := range v.Objects {
		if v.Objects[i].Name == hashike.RunObjectResult {
			o = &v.Objects[i]
		}
	}
	if o == nil {
		return nil
	}
	if o.Error != "" {
		return &runResult{Refused: o.Error}
	}
	info, rc, err := c.svc.RunResult(ctx, v.ID)
	if err != nil {
		switch code := hashike.ErrorCodeOf(err); {
		case code == hashike.ETooLarge:
			return &runResult{Refused: err.Error()}
		case code == hashike.ENotFound:
			return &runResult{Unreadable: err.Error()}
		default:
			c.log.Error("console: read result", "run", v.ID, "err", err)
			return &runResult{Unreadable: "the result cannot be read now; the error is in the server's log"}
		}
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, resultInlineLimit+1))
	if err != nil {
		c.log.Error("console: read result", "run", v.ID, "err", err)
		return &runResult{Unreadable: "the result cannot be read now; the error is in the server's log"}
	}
	res := &runResult{Size: humanBytes(info.Size), ContentType: info.ContentType}
	if len(b) > resultInlineLimit {
		b, res.Truncated = b[:resultInlineLimit], true
		// A character cut in two at the limit is not binary content.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	switch {
	case !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0:
		res.Binary = true
	case !res.Truncated && json.Valid(b):
		res.Text = prettyJSON(b)
	default:
		res.Text = string(b)
	}
	return res
}

// humanBytes is n for reading: 512 bytes, 12.5 KiB, 3.0 MiB.
func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// resultDownload serves a run's whole result as an attachment. It is served as JSON or as
// bytes, never as a type a browser would run (HTML, SVG) on the console's origin.
func (c *Console) resultDownload(w http.ResponseWriter, r *http.Request, _ *session) error {
	info, rc, err := c.svc.RunResult(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	ctype, ext := "application/octet-stream", ".bin"
	if mt, _, err := mime.ParseMediaType(info.ContentType); err == nil {
		switch mt {
		case "application/json":
			ctype, ext = "application/json", ".json"
		case "text/plain":
			ctype, ext = "text/plain; charset=utf-8", ".txt"
		}
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.RunID + "-result" + ext}))
	if _, err := io.Copy(w, rc); err != nil {
		// The headers are sent: the client sees a short body; the log says why.
		c.log.Warn("console: send result", "run", info.RunID, "err", err)
	}
	return nil
}
