package registry

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fileSpec is one file to download and how to check it.
type fileSpec struct {
	url     string
	dst     string // final path; the bytes live in dst+".partial" until verified
	sha256  string // expected lowercase hex, or "" when unknown
	gitOID  string // expected git blob sha1 (non-LFS Hugging Face files), or ""
	size    int64  // expected size, or -1 when unknown
	label   string // for error messages: the file or digest being pulled
	header  http.Header
	onRedir func(resp *http.Response) // sees each redirect response (X-Linked-Etag)
}

// Lock files older than this without being refreshed belong to a pull that
// died; a live download refreshes its lock every lockRefresh.
var (
	lockStale   = 30 * time.Second
	lockRefresh = 5 * time.Second
	lockPoll    = 100 * time.Millisecond
	// stallTimeout is how long a download may go without receiving a byte
	// before the connection is dropped and the download resumed.
	stallTimeout = 60 * time.Second
)

// maxAttempts bounds how often one download resumes after a dropped
// connection within a single pull.
const maxAttempts = 5

// inproc serialises downloads of the same destination inside one process
// (the server may run several /api/pull requests at once); the lock file
// does the same across processes.
var inproc sync.Map // dst -> *sync.Mutex

// download fetches spec.url into spec.dst, resuming a previous partial
// download, verifying the content before it is renamed into place, and
// reporting progress as completed bytes. It returns the sha256 of the file.
// When dst already exists it is trusted: only verified files are ever
// renamed to their final name.
func (c *client) download(ctx context.Context, spec fileSpec, progress func(completed, total int64)) (string, error) {
	mu, _ := inproc.LoadOrStore(spec.dst, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if err := os.MkdirAll(filepath.Dir(spec.dst), 0o755); err != nil {
		return "", err
	}
	if st, err := os.Stat(spec.dst); err == nil && !st.IsDir() && (spec.size < 0 || st.Size() == spec.size) {
		return present(spec, st.Size(), progress)
	}
	unlock, err := acquireLock(ctx, spec.dst+".lock", spec.dst)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have finished it while we waited.
	if st, err := os.Stat(spec.dst); err == nil && !st.IsDir() && (spec.size < 0 || st.Size() == spec.size) {
		return present(spec, st.Size(), progress)
	}

	partial := spec.dst + ".partial"
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		before := partialSize(partial)
		sum, done, err := c.fetchOnce(ctx, spec, partial, progress)
		if err == nil && done {
			if err := os.Rename(partial, spec.dst); err != nil {
				return "", err
			}
			return sum, nil
		}
		lastErr = err
		var perm *permanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			return "", err
		}
		// Only retry when the connection made progress or on the first
		// failures: a server that never sends a byte gets maxAttempts tries.
		if partialSize(partial) <= before && attempt >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("downloading %s: %w (the partial download is kept; pull again to resume)", spec.label, lastErr)
}

// present reports a file that is already in place. Only verified files are
// ever renamed to their final name, so it is trusted; its sha256 is computed
// when the caller does not know it.
func present(spec fileSpec, size int64, progress func(completed, total int64)) (string, error) {
	if progress != nil {
		progress(size, size)
	}
	if spec.sha256 != "" {
		return spec.sha256, nil
	}
	f, err := os.Open(spec.dst)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %v", spec.dst, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// permanentError marks failures that a retry cannot fix (HTTP 4xx, a
// digest mismatch).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, a ...any) error {
	return &permanentError{fmt.Errorf(format, a...)}
}

func partialSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// fetchOnce makes one request, appending to the partial file. It reports
// done when the whole file is present and verified.
func (c *client) fetchOnce(ctx context.Context, spec fileSpec, partial string, progress func(completed, total int64)) (string, bool, error) {
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", false, err
	}
	if spec.size >= 0 && have > spec.size {
		// Longer than the file can be: not ours to resume.
		if err := f.Truncate(0); err != nil {
			return "", false, err
		}
		have = 0
	}

	sha := sha256.New()
	var git hash.Hash
	if spec.gitOID != "" && spec.size >= 0 {
		git = sha1.New()
		fmt.Fprintf(git, "blob %d\x00", spec.size)
	}
	hashers := func() io.Writer {
		if git != nil {
			return io.MultiWriter(sha, git)
		}
		return sha
	}
	if have > 0 {
		// Hash what is already there so the final check covers every byte.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", false, err
		}
		if _, err := io.CopyN(hashers(), f, have); err != nil {
			return "", false, err
		}
	}
	if spec.size >= 0 && have == spec.size {
		sum, err := finish(spec, sha, git)
		if err != nil {
			f.Close()
			os.Remove(partial)
		}
		return sum, err == nil, err
	}

	// A server that stops sending (or never answers) must not hang the
	// pull: the request is cancelled after stallTimeout without a byte,
	// and the retry loop resumes it.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("%s: no data for %v", spec.label, stallTimeout)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(stalled) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, spec.url, nil)
	if err != nil {
		return "", false, permanent("%s: %v", spec.label, err)
	}
	for k, v := range spec.header {
		req.Header[k] = v
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.do(req, spec.onRedir)
	if err != nil {
		if context.Cause(rctx) == stalled {
			return "", false, stalled
		}
		return "", false, err
	}
	defer resp.Body.Close()

	total := spec.size
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, end, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// A range we did not ask for: start over.
			return "", false, restart(f, partial)
		}
		if total < 0 {
			total = size
		}
		_ = end
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range (or there was none): start over.
		if have > 0 {
			if err := f.Truncate(0); err != nil {
				return "", false, err
			}
			have = 0
			sha.Reset()
			if git != nil {
				git.Reset()
				fmt.Fprintf(git, "blob %d\x00", spec.size)
			}
		}
		if total < 0 && resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The partial file is already complete or is garbage; the check
		// below or a restart sorts it out.
		return "", false, restart(f, partial)
	default:
		return "", false, httpError(resp, spec.label)
	}
	if spec.size >= 0 && total >= 0 && total != spec.size {
		return "", false, permanent("%s: server sent %d bytes, the manifest says %d", spec.label, total, spec.size)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return "", false, err
	}

	// Refresh the lock while bytes flow so other processes do not take it
	// over as stale.
	lastTouch := time.Now()
	completed := have
	if progress != nil {
		progress(completed, total)
	}
	buf := make([]byte, 256<<10)
	var body io.Reader = resp.Body
	if total >= 0 {
		// Never write past the announced size: a server that keeps sending
		// cannot fill the disk.
		body = io.LimitReader(resp.Body, total-have+1)
	}
	w := io.MultiWriter(f, hashers())
	for {
		n, rerr := body.Read(buf)
		watchdog.Reset(stallTimeout)
		if n > 0 {
			if total >= 0 && completed+int64(n) > total {
				return "", false, permanent("%s: server sent more than the %d bytes announced", spec.label, total)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return "", false, err
			}
			completed += int64(n)
			if progress != nil {
				progress(completed, total)
			}
			if time.Since(lastTouch) > lockRefresh {
				now := time.Now()
				os.Chtimes(spec.dst+".lock", now, now)
				lastTouch = now
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if context.Cause(rctx) == stalled {
				return "", false, stalled
			}
			return "", false, rerr
		}
	}
	if total >= 0 && completed != total {
		return "", false, fmt.Errorf("%s: connection closed after %d of %d bytes", spec.label, completed, total)
	}
	sum, err := finish(spec, sha, git)
	if err != nil {
		f.Close()
		os.Remove(partial)
		return "", false, err
	}
	return sum, true, nil
}

// finish checks the hashes of a complete download.
func finish(spec fileSpec, sha, git hash.Hash) (string, error) {
	got := hex.EncodeToString(sha.Sum(nil))
	if spec.sha256 != "" && got != spec.sha256 {
		return "", permanent("%s: sha256 mismatch: got %s, expected %s (the download was deleted)", spec.label, got, spec.sha256)
	}
	if git != nil {
		if g := hex.EncodeToString(git.Sum(nil)); g != spec.gitOID {
			return "", permanent("%s: git object id mismatch: got %s, expected %s (the download was deleted)", spec.label, g, spec.gitOID)
		}
	}
	return got, nil
}

func restart(f *os.File, partial string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	return fmt.Errorf("%s: server did not honour the resume range; restarting", filepath.Base(partial))
}

// parseContentRange reads "bytes START-END/SIZE" (SIZE may be "*").
func parseContentRange(s string) (start, end, size int64, ok bool) {
	s, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, 0, false
	}
	size = -1
	if sz != "*" {
		v, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || v <= end {
			return 0, 0, 0, false
		}
		size = v
	}
	return start, end, size, true
}

// acquireLock creates path exclusively, waiting while another live pull
// holds it and taking over a lock nobody has refreshed for lockStale. It
// also returns early (with a no-op unlock) when done appears meanwhile.
func acquireLock(ctx context.Context, path, done string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if _, err := os.Stat(done); err == nil {
			return func() {}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}
