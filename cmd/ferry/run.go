package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chat"
	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/sample"
	"github.com/ferryhq/ferry/tokenizer"
)

// runFlags are ferry run's options, named after Ollama's.
type runFlags struct {
	samp                            sample.Options
	numPredict, ctx, threads, batch int
	stops                           []string
	ignoreEOS, raw, verbose         bool
	format, kvType, system          string
	topLogprobs                     int
}

func init() {
	f := &runFlags{samp: sample.Defaults()}
	cmd := &cobra.Command{
		Use:   "run MODEL [PROMPT]",
		Short: "Generate text with a model: one-shot with PROMPT, else an interactive chat",
		Long: `Run MODEL (a GGUF file, a Hugging Face / MLX folder, a llama2.c checkpoint,
or a name ferry resolves) on the CPU.

With PROMPT, the answer is streamed to stdout and ferry exits. Without, ferry
starts a chat: the conversation is rendered with the model's chat template
each turn (the cached prefix is reused), "/bye" quits, "/clear" forgets the
conversation, "/set parameter NAME VALUE" changes a sampling option,
"/set system TEXT" sets the system prompt, input between """ lines is one
multi-line message, and Ctrl-C stops the current answer.

--raw skips the template: the prompt is tokenized as is (BOS added when the
tokenizer adds one). --format json streams one JSON object per generated
token (id, text, logprob, top alternatives) and a final summary.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModel(cmd, f, args[0], strings.Join(args[1:], " "))
		},
	}
	fl := cmd.Flags()
	fl.Float32Var(&f.samp.Temperature, "temperature", f.samp.Temperature, "sampling temperature (0 = greedy)")
	fl.IntVar(&f.samp.TopK, "top-k", f.samp.TopK, "keep the K most likely tokens (0 = off)")
	fl.Float32Var(&f.samp.TopP, "top-p", f.samp.TopP, "nucleus sampling mass (1 = off)")
	fl.Float32Var(&f.samp.MinP, "min-p", f.samp.MinP, "drop tokens below this fraction of the top probability")
	fl.Float32Var(&f.samp.TypicalP, "typical-p", f.samp.TypicalP, "locally typical sampling mass (1 = off)")
	fl.Float32Var(&f.samp.RepeatPenalty, "repeat-penalty", f.samp.RepeatPenalty, "penalty for repeated tokens (1 = off)")
	fl.IntVar(&f.samp.RepeatLastN, "repeat-last-n", f.samp.RepeatLastN, "window for the repetition penalties (0 = off, -1 = context)")
	fl.Float32Var(&f.samp.PresencePenalty, "presence-penalty", 0, "penalty for tokens present in the window")
	fl.Float32Var(&f.samp.FrequencyPenalty, "frequency-penalty", 0, "penalty per occurrence in the window")
	fl.Int64Var(&f.samp.Seed, "seed", -1, "random seed (-1 = random)")
	fl.IntVar(&f.numPredict, "num-predict", -1, "maximum tokens to generate (-1 = until end of generation or full context)")
	fl.StringArrayVar(&f.stops, "stop", nil, "stop string (repeatable)")
	fl.IntVar(&f.ctx, "ctx", 0, "context size in tokens (0 = model's, at most 4096)")
	fl.IntVar(&f.threads, "threads", 0, "worker threads (0 = physical cores)")
	fl.IntVar(&f.batch, "batch", 512, "prompt tokens per forward chunk")
	fl.StringVar(&f.kvType, "kv-cache-type", "f16", "KV cache type: f16, q8_0 or f32")
	fl.BoolVar(&f.ignoreEOS, "ignore-eos", false, "keep generating past end-of-generation tokens")
	fl.BoolVar(&f.raw, "raw", false, "no chat template: tokenize the prompt as is")
	fl.StringVar(&f.format, "format", "", `output format: "" (text) or "json" (one JSON line per token)`)
	fl.IntVar(&f.topLogprobs, "top-logprobs", 0, "with --format json: alternatives listed per token")
	fl.BoolVar(&f.verbose, "verbose", false, "print timings after each answer (Ollama style)")
	fl.StringVar(&f.system, "system", "", "system prompt")
	rootCmd.AddCommand(cmd)
}

// session is a loaded model ready to chat.
type session struct {
	f       *runFlags
	m       *model.Model
	e       *engine.Engine
	tok     *tokenizer.Tokenizer
	info    chat.ModelInfo
	tmpl    string // chat template ("" with --raw or when the model has none)
	stops   []string
	seq     *engine.Seq
	cached  []int32 // tokens whose keys/values are in seq
	out     io.Writer
	errOut  io.Writer
	loadDur time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc // the answer in progress, for Ctrl-C
}

// interrupts turns Ctrl-C into cancelling the answer in progress; between
// answers it reminds how to leave (interactive) or exits (one-shot).
func (s *session) interrupts(sig chan os.Signal, interactive bool) {
	for range sig {
		s.mu.Lock()
		c := s.cancel
		s.mu.Unlock()
		switch {
		case c != nil:
			c()
		case interactive:
			fmt.Fprintln(s.errOut, "\nUse Ctrl + d or /bye to exit.")
		default:
			os.Exit(130)
		}
	}
}

func runModel(cmd *cobra.Command, f *runFlags, arg, prompt string) error {
	s, err := openSession(cmd, f, arg)
	if err != nil {
		return err
	}
	defer s.close()

	// Ctrl-C cancels the answer in progress (and, in one-shot mode, ends).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)

	interactive := prompt == "" && isTerminal(os.Stdin)
	if prompt == "" && !interactive {
		// Piped input is one prompt, as with Ollama.
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return err
		}
		prompt = strings.TrimSpace(string(b))
		if prompt == "" {
			return errors.New("empty prompt on standard input")
		}
	}
	go s.interrupts(sig, interactive)
	if prompt != "" {
		var msgs []message
		if f.system != "" {
			msgs = append(msgs, message{"system", f.system})
		}
		msgs = append(msgs, message{"user", prompt})
		_, err := s.answer(msgs, prompt)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	return s.chat(cmd.InOrStdin())
}

// openSession loads MODEL, its tokenizer and chat template.
func openSession(cmd *cobra.Command, f *runFlags, arg string) (*session, error) {
	if f.format != "" && f.format != "json" {
		return nil, fmt.Errorf("--format %q: only json is supported", f.format)
	}
	t0 := time.Now()
	m, err := resolveModel(arg)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	e, err := engine.Load(m, engine.Options{Threads: f.threads, Context: f.ctx, BatchSize: f.batch, KVCacheType: f.kvType})
	if err != nil {
		m.Close()
		return nil, err
	}
	s := &session{f: f, m: m, e: e, tok: tok, seq: e.NewSeq(), out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}
	s.info = chat.InfoFromMetadata(&m.Metadata)
	if !f.raw {
		s.tmpl = s.info.Template
	}
	s.stops = f.stops
	if s.tmpl != "" {
		// Turn markers the template writes stop a model that spells them
		// out as text (Ollama does the same).
		s.stops = append(append([]string(nil), f.stops...), chat.StopSequences(s.tmpl, s.info.EOG)...)
		if _, err := chat.Render(s.tmpl, chat.RenderOptions{Messages: []chat.Message{{Role: "user", Content: "test"}}, AddGenerationPrompt: true, BOS: s.info.BOS, EOS: s.info.EOS}); err != nil {
			s.close()
			return nil, fmt.Errorf("%s: chat template: %w", arg, err)
		}
	}
	s.loadDur = time.Since(t0)
	return s, nil
}

func (s *session) close() {
	s.e.Close()
	s.m.Close()
}

type message struct{ Role, Content string }

// promptTokens renders and tokenizes the conversation (or the raw prompt).
func (s *session) promptTokens(msgs []message, raw string) ([]int32, error) {
	if s.tmpl == "" {
		text := raw
		if text == "" && len(msgs) > 0 {
			// Raw chat without a template: plain concatenation.
			var b strings.Builder
			for _, m := range msgs {
				b.WriteString(m.Content)
				b.WriteString("\n")
			}
			text = b.String()
		}
		return s.tok.Encode(text, true, true)
	}
	text, err := s.render(msgs)
	if err != nil {
		return nil, err
	}
	ids, err := s.tok.Encode(text, false, true)
	if err != nil {
		return nil, err
	}
	// Templates usually write the BOS token themselves; add it when the
	// vocabulary wants one and the template did not.
	if s.tok.AddBOS() && s.tok.BOS() >= 0 && (len(ids) == 0 || ids[0] != s.tok.BOS()) {
		ids = append([]int32{s.tok.BOS()}, ids...)
	}
	return ids, nil
}

func (s *session) render(msgs []message) (string, error) {
	cm := make([]chat.Message, len(msgs))
	for i, m := range msgs {
		cm[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	out, err := chat.Render(s.tmpl, chat.RenderOptions{Messages: cm, AddGenerationPrompt: true, BOS: s.info.BOS, EOS: s.info.EOS})
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// answer generates a reply to the conversation and returns its text.
func (s *session) answer(msgs []message, raw string) (string, error) {
	ids, err := s.promptTokens(msgs, raw)
	if err != nil {
		return "", err
	}
	if len(ids) >= s.e.Options().Context {
		return "", &engine.ContextError{Have: 0, Add: len(ids), Context: s.e.Options().Context}
	}
	// Reuse the cached prefix; always feed at least one token.
	keep := 0
	for keep < len(s.cached) && keep < len(ids)-1 && s.cached[keep] == ids[keep] {
		keep++
	}
	if err := s.seq.Truncate(keep); err != nil {
		return "", err
	}
	s.cached = append(s.cached[:keep], ids[keep:]...)

	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cancel()
	}()

	f := s.f
	sampler := sample.New(f.samp)
	sampler.Accept(ids...)
	dec := s.tok.NewStreamDecoder(false)
	dec.SetRenderSpecial(false)
	stop := sample.NewStopper(s.stops)
	var text strings.Builder
	jsonOut := json.NewEncoder(s.out)
	jsonOut.SetEscapeHTML(false)
	var tops []sample.TokenLogprob
	stopped := false
	emit := func(piece string) {
		text.WriteString(piece)
		if f.format == "" {
			io.WriteString(s.out, piece)
		}
	}
	t0 := time.Now()
	st, err := s.e.Generate(ctx, engine.Request{
		Seq:        s.seq,
		Prompt:     ids[keep:],
		Sampler:    sampler,
		NumPredict: f.numPredict,
		EOG:        s.tok.EOG,
		IgnoreEOS:  f.ignoreEOS,
		OnToken: func(t int32, logits []float32) bool {
			s.cached = append(s.cached, t)
			piece := dec.Add(t)
			if f.format == "json" {
				lp, top := sample.Logprobs(logits, t, f.topLogprobs, tops[:0])
				tops = top
				rec := map[string]any{"id": t, "text": s.tok.Piece(t, true), "logprob": lp}
				if f.topLogprobs > 0 {
					alts := make([]map[string]any, len(top))
					for i, a := range top {
						alts[i] = map[string]any{"id": a.ID, "text": s.tok.Piece(a.ID, true), "logprob": a.Logprob}
					}
					rec["top_logprobs"] = alts
				}
				jsonOut.Encode(rec)
			}
			var out string
			out, stopped = stop.Push(piece)
			emit(out)
			return stopped
		},
	})
	// The last generated token is not in the cache yet.
	if len(s.cached) > s.seq.Len() {
		s.cached = s.cached[:s.seq.Len()]
	}
	if !stopped {
		out, hit := stop.Push(dec.Flush())
		emit(out)
		if !hit {
			emit(stop.Flush())
		}
	}
	total := time.Since(t0) + s.loadDur
	if f.format == "" {
		fmt.Fprintln(s.out)
	} else {
		jsonOut.Encode(map[string]any{
			"done": true, "done_reason": st.DoneReason,
			"prompt_eval_count": st.PromptEvalCount, "prompt_eval_duration": st.PromptEvalDuration.Nanoseconds(),
			"eval_count": st.EvalCount, "eval_duration": st.EvalDuration.Nanoseconds(),
			"load_duration": s.loadDur.Nanoseconds(), "total_duration": total.Nanoseconds(),
		})
	}
	if f.verbose {
		printTimings(s.errOut, total, s.loadDur, st)
	}
	s.loadDur = 0
	return text.String(), err
}

// printTimings writes Ollama's --verbose summary.
func printTimings(w io.Writer, total, load time.Duration, st engine.Stats) {
	rate := func(n int, d time.Duration) string {
		if d <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f tokens/s", float64(n)/d.Seconds())
	}
	fmt.Fprintf(w, "total duration:       %v\n", total)
	fmt.Fprintf(w, "load duration:        %v\n", load)
	fmt.Fprintf(w, "prompt eval count:    %d token(s)\n", st.PromptEvalCount)
	fmt.Fprintf(w, "prompt eval duration: %v\n", st.PromptEvalDuration)
	fmt.Fprintf(w, "prompt eval rate:     %s\n", rate(st.PromptEvalCount, st.PromptEvalDuration))
	fmt.Fprintf(w, "eval count:           %d token(s)\n", st.EvalCount)
	fmt.Fprintf(w, "eval duration:        %v\n", st.EvalDuration)
	fmt.Fprintf(w, "eval rate:            %s\n", rate(st.EvalCount, st.EvalDuration))
}

// chat is the interactive loop.
func (s *session) chat(in io.Reader) error {
	var msgs []message
	system := s.f.system
	r := bufio.NewReader(in)
	for {
		fmt.Fprint(s.out, ">>> ")
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(s.out)
			return nil // EOF (Ctrl-D)
		}
		line = strings.TrimRight(line, "\r\n")
		if t := strings.TrimSpace(line); strings.HasPrefix(t, `"""`) {
			line = readMultiline(r, s.out, strings.TrimPrefix(t, `"""`))
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case trimmed == "/bye" || trimmed == "/exit":
			return nil
		case trimmed == "/clear":
			msgs = nil
			fmt.Fprintln(s.errOut, "Cleared session context")
			continue
		case trimmed == "/?" || trimmed == "/help":
			fmt.Fprintln(s.errOut, `Commands: /bye, /clear, /set parameter NAME VALUE, /set system TEXT; """ starts and ends multi-line input`)
			continue
		case strings.HasPrefix(trimmed, "/set system "):
			system = strings.TrimSpace(strings.TrimPrefix(trimmed, "/set system "))
			fmt.Fprintln(s.errOut, "Set system message.")
			continue
		case strings.HasPrefix(trimmed, "/set parameter "):
			if err := s.setParameter(strings.Fields(strings.TrimPrefix(trimmed, "/set parameter "))); err != nil {
				fmt.Fprintln(s.errOut, "Error:", err)
			}
			continue
		case strings.HasPrefix(trimmed, "/"):
			fmt.Fprintf(s.errOut, "Unknown command %q; type /? for help\n", strings.Fields(trimmed)[0])
			continue
		}
		msgs = append(msgs, message{"user", line})
		reply, err := s.answerFitting(system, &msgs)
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(s.errOut, "Error:", err)
			msgs = msgs[:len(msgs)-1]
			continue
		}
		msgs = append(msgs, message{"assistant", reply})
	}
}

// readMultiline collects lines until one containing """ (first holds the
// text after the opening quotes).
func readMultiline(r *bufio.Reader, out io.Writer, first string) string {
	var lines []string
	if i := strings.Index(first, `"""`); i >= 0 {
		return first[:i]
	}
	if first != "" {
		lines = append(lines, first)
	}
	for {
		fmt.Fprint(out, "... ")
		l, err := r.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if i := strings.Index(l, `"""`); i >= 0 {
			if l[:i] != "" {
				lines = append(lines, l[:i])
			}
			break
		}
		lines = append(lines, l)
		if err != nil {
			break
		}
	}
	return strings.Join(lines, "\n")
}

// answerFitting answers, dropping the oldest turns (keeping the system
// prompt) when the conversation no longer fits the context.
func (s *session) answerFitting(system string, msgs *[]message) (string, error) {
	for {
		all := *msgs
		if system != "" {
			all = append([]message{{"system", system}}, all...)
		}
		if s.tmpl != "" {
			ids, err := s.promptTokens(all, "")
			if err != nil {
				return "", err
			}
			// Leave room for an answer: a quarter of the context.
			if len(ids) > s.e.Options().Context*3/4 && len(*msgs) > 2 {
				*msgs = (*msgs)[2:]
				continue
			}
		}
		raw := ""
		if s.tmpl == "" {
			raw = (*msgs)[len(*msgs)-1].Content
			all = nil
			s.seq.Truncate(0)
			s.cached = s.cached[:0]
		}
		return s.answer(all, raw)
	}
}

func (s *session) setParameter(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: /set parameter NAME VALUE")
	}
	name, val := args[0], strings.Join(args[1:], " ")
	o := &s.f.samp
	fl := func(dst *float32) error {
		v, err := strconv.ParseFloat(val, 32)
		*dst = float32(v)
		return err
	}
	in := func(dst *int) error {
		v, err := strconv.Atoi(val)
		*dst = v
		return err
	}
	var err error
	switch name {
	case "temperature":
		err = fl(&o.Temperature)
	case "top_k":
		err = in(&o.TopK)
	case "top_p":
		err = fl(&o.TopP)
	case "min_p":
		err = fl(&o.MinP)
	case "typical_p":
		err = fl(&o.TypicalP)
	case "repeat_penalty":
		err = fl(&o.RepeatPenalty)
	case "repeat_last_n":
		err = in(&o.RepeatLastN)
	case "presence_penalty":
		err = fl(&o.PresencePenalty)
	case "frequency_penalty":
		err = fl(&o.FrequencyPenalty)
	case "seed":
		var v int
		err = in(&v)
		o.Seed = int64(v)
	case "num_predict":
		err = in(&s.f.numPredict)
	case "stop":
		s.stops = append(s.stops, val)
	default:
		return fmt.Errorf("unknown parameter %q", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	fmt.Fprintf(s.errOut, "Set parameter '%s' to '%s'\n", name, val)
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
