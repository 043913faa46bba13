package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/doctor"
	"github.com/ferryhq/ferry/server"
	"github.com/ferryhq/ferry/store"
)

// serverAddr is where client commands (ps, stop) find a running server:
// FERRY_HOST or the default address.
func serverAddr() string {
	h := os.Getenv("FERRY_HOST")
	if h == "" {
		h = server.DefaultAddr
	}
	if !strings.Contains(h, "://") {
		if !strings.Contains(h, ":") {
			h += ":11435"
		}
		h = "http://" + h
	}
	return strings.TrimRight(h, "/")
}

// parseBytes reads sizes such as "8GiB", "512MB", "1.5G" or a plain number
// of bytes.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			mult = u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q (examples: 8GiB, 512MB, 1073741824)", s)
	}
	return int64(f * mult), nil
}

// readKeys reads API keys, one per line ('#' comments), from a file.
func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("API keys file: %w", err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			keys = append(keys, l)
		}
	}
	return keys, sc.Err()
}

func init() {
	var (
		host, maxMem, keysFile, kvType   string
		parallel, queue, numCtx, threads int
		keepAlive, grace                 time.Duration
		apiKeys, cors                    []string
		verbose                          bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve models over Ollama's and OpenAI's HTTP APIs",
		Long: `Serve the models of the store (ferry's own, and those found in Ollama's
store, the Hugging Face cache and LM Studio) over Ollama's API (/api/...) and
OpenAI's (/v1/...). Concurrent requests to a model share each decode step
(continuous batching); a new chat turn reuses the KV cache of the earlier
ones; several models stay loaded within --max-memory.

Listens on 127.0.0.1:11435 unless --host or FERRY_HOST say otherwise.
SIGINT/SIGTERM stop accepting, let requests finish for --grace, then exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if host == "" {
				host = os.Getenv("FERRY_HOST")
			}
			if host == "" {
				host = server.DefaultAddr
			}
			host = strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://")
			if !strings.Contains(host, ":") {
				host += ":11435"
			}
			var budget int64
			if maxMem != "" {
				b, err := parseBytes(maxMem)
				if err != nil {
					return fmt.Errorf("--max-memory: %w", err)
				}
				budget = b
			} else {
				budget = int64(doctor.Budget(doctor.ProbeHost(doctor.RealEnv())))
			}
			if keysFile == "" {
				keysFile = os.Getenv("FERRY_API_KEYS")
			}
			keys := append([]string(nil), apiKeys...)
			if keysFile != "" {
				k, err := readKeys(keysFile)
				if err != nil {
					return err
				}
				keys = append(keys, k...)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			s := server.New(server.Config{
				Store:       store.Default(),
				Loader:      &server.EngineLoader{Threads: threads, KVCacheType: kvType},
				Version:     version,
				Parallel:    parallel,
				QueueSize:   queue,
				MaxMemory:   budget,
				KeepAlive:   keepAlive,
				NumCtx:      numCtx,
				APIKeys:     keys,
				CORSOrigins: cors,
				Logger:      logger,
			})
			l, err := net.Listen("tcp", host)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			auth := "off"
			if len(keys) > 0 {
				auth = fmt.Sprintf("%d key(s)", len(keys))
			}
			logger.Info("ferry serving", "addr", "http://"+l.Addr().String(), "parallel", parallel, "max_memory", budget, "api_keys", auth, "models", store.Default().Dir)
			err = s.Serve(ctx, l, grace)
			logger.Info("ferry stopped")
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "", "address to listen on (default FERRY_HOST or 127.0.0.1:11435)")
	f.IntVar(&parallel, "parallel", 4, "sequences per model decoded together (batch slots)")
	f.IntVar(&queue, "queue", 64, "requests per model that may wait for a slot before 503")
	f.StringVar(&maxMem, "max-memory", "", "memory budget for loaded models, e.g. 16GiB (default: machine memory less headroom)")
	f.DurationVar(&keepAlive, "keep-alive", 5*time.Minute, "how long an idle model stays loaded (requests may override)")
	f.IntVar(&numCtx, "ctx", 0, "default context length per sequence (0: the model's, capped at 4096)")
	f.IntVar(&threads, "threads", 0, "worker threads per model (0: physical cores)")
	f.StringVar(&kvType, "kv-type", "f16", "KV cache type: f16, q8_0 or f32")
	f.StringSliceVar(&apiKeys, "api-key", nil, "accepted API key (Authorization: Bearer KEY); repeatable")
	f.StringVar(&keysFile, "api-keys-file", "", "file of API keys, one per line (default FERRY_API_KEYS)")
	f.StringSliceVar(&cors, "cors", nil, "extra allowed browser origins (\"*\" for any); loopback origins are always allowed")
	f.DurationVar(&grace, "grace", 30*time.Second, "on SIGTERM, how long in-flight requests may take before they are cancelled")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	rootCmd.AddCommand(cmd)
}

// apiGet calls a running server and decodes JSON into v.
func apiDo(method, path string, body string, v any) error {
	req, err := http.NewRequest(method, serverAddr()+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if k := os.Getenv("FERRY_API_KEY"); k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("no ferry server at %s (start one with `ferry serve`): %w", serverAddr(), err)
	}
	defer resp.Body.Close()
	dec := jsonDecoder(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct {
			Error any `json:"error"`
		}
		dec.Decode(&e)
		return fmt.Errorf("server: %s: %v", resp.Status, e.Error)
	}
	if v == nil {
		return nil
	}
	return dec.Decode(v)
}

func jsonDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
