// llama.mjs runs llama.cpp (the prebuilt CPU build shipped inside
// node-llama-cpp's npm packages) on one GGUF file and answers a list of jobs
// read as JSON from stdin, writing one JSON document to stdout.
//
// Input:  {"model": PATH, "threads": N, "context": N, "vocab_only": bool,
//          "overrides": {nested metadata keys}, "jobs": [JOB, ...]}
// Jobs:
//   {"op": "info"}                                   -> llama.cpp build, model facts
//   {"op": "greedy", "ids": [...], "n": 24}          -> {"ids": [...]} greedy continuation
//   {"op": "probs", "ids": [...], "positions": [...]} -> {"probs": [[...n_vocab], ...]}
//   {"op": "tokenize", "texts": [...], "special": b} -> {"ids": [[...], ...]} (no BOS/EOS added)
//   {"op": "detokenize", "ids": [[...], ...]}        -> {"texts": [...]}
//   {"op": "bench", "pp": 512, "tg": 128, "reps": 1} -> {"pp_tps": [...], "tg_tps": [...]}
// Each job's answer is {"op": ..., ...} or {"op": ..., "error": msg}; a model
// that llama.cpp refuses to load gives {"load_error": msg}.
//
// Nothing is downloaded or built: getLlama is told build "never" and
// skipDownload, and only the CPU binary is used.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

function readStdin() {
    return new Promise((resolve, reject) => {
        let data = "";
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", (c) => { data += c; });
        process.stdin.on("end", () => resolve(data));
        process.stdin.on("error", reject);
    });
}

const req = JSON.parse(await readStdin());
const logs = [];
const perfLines = [];
const out = {model: req.model, results: []};

const llama = await getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: req.perf ? LlamaLogLevel.info : LlamaLogLevel.warn,
    logger: (level, message) => {
        if (level === "info" || level === "debug") {
            if (/eval time/.test(message)) perfLines.push(message);
            return;
        }
        logs.push(`${level}: ${message}`.trimEnd());
    },
});

let model;
try {
    model = await llama.loadModel({modelPath: req.model, gpuLayers: 0, useMmap: true, vocabOnly: !!req.vocab_only,
        metadataOverrides: req.overrides || undefined});
} catch (e) {
    out.load_error = String(e && e.message || e);
    out.logs = logs.slice(-20);
    process.stdout.write(JSON.stringify(out) + "\n");
    await llama.dispose();
    process.exit(0);
}

const threads = req.threads || 2;
const contextSize = req.context || 512;

async function withSequence(fn, ctxSize = contextSize, batchSize = Math.min(ctxSize, 512), perf = false) {
    const context = await model.createContext({contextSize: ctxSize, batchSize, threads, sequences: 1, performanceTracking: perf});
    try {
        return await fn(context.getSequence(), context);
    } finally {
        await context.dispose();
    }
}

// llamaPerf parses llama.cpp's own llama_perf_context_print lines:
// "prompt eval time = T ms / N tokens" and "eval time = T ms / N runs".
function llamaPerf(lines) {
    const r = {};
    for (const line of lines) {
        const m = /(prompt eval|eval) time\s*=\s*([0-9.]+) ms\s*\/\s*([0-9]+)/.exec(line);
        if (!m) continue;
        const tps = Number(m[3]) / (Number(m[2]) / 1000);
        if (m[1] === "prompt eval") r.pp = tps; else r.tg = tps;
    }
    return r;
}

async function greedy(ids, n) {
    return withSequence(async (seq) => {
        const got = [];
        // temperature 0 is llama.cpp's greedy sampler; EOG tokens are yielded
        // and generation goes on, as the reference did (24 raw tokens).
        for await (const tok of seq.evaluate(ids, {temperature: 0, yieldEogToken: true})) {
            got.push(tok);
            if (got.length >= n) break;
        }
        return got;
    }, Math.max(contextSize, ids.length + n + 8));
}

// vocabSize is the row count of token_embd.weight (GGUF order: [n_embd, n_vocab]).
function vocabSize() {
    if (req.vocab_only) return model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    const t = (model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo ?? []).find((x) => x.name === "token_embd.weight");
    return t ? Number(t.dimensions[1]) : model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
}

// probs evaluates ids in one batch and returns llama.cpp's next-token
// distribution (softmax of the logits: temperature 1, no truncation) at each
// requested position, as dense arrays of n_vocab floats.
async function probs(ids, positions) {
    const nVocab = vocabSize();
    const want = new Set(positions);
    return withSequence(async (seq) => {
        const items = ids.map((tok, i) => want.has(i)
            ? [tok, {generateNext: {probabilities: true, options: {temperature: 1, topK: nVocab, topP: 1, minP: 0, seed: 1}}}]
            : tok);
        const out = await seq.controlledEvaluate(items);
        return positions.map((pos) => {
            const dense = new Array(nVocab).fill(0);
            const p = out[pos]?.next?.probabilities;
            if (!p) throw new Error(`no probabilities at position ${pos}`);
            for (const [tok, v] of p) dense[tok] = v;
            return dense;
        });
    }, Math.max(contextSize, ids.length + 8), Math.max(512, ids.length));
}

async function bench(pp, tg, reps, seed) {
    // Mirrors ferry's bench.Local: one fresh sequence per repetition, a
    // prompt of pp random token ids processed in one batch, then tg greedy
    // decode steps on top of it, each timed here around llama.cpp's calls.
    const res = {pp_tps: [], tg_tps: [], llama_pp_tps: [], llama_tg_tps: []};
    const nVocab = vocabSize();
    let state = (seed || 1) >>> 0;
    const rand = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state; };
    for (let r = 0; r < reps; r++) {
        await withSequence(async (seq, context) => {
            const prompt = [];
            for (let i = 0; i < pp; i++) prompt.push(rand() % nVocab);
            const t0 = performance.now();
            let tFirst = 0;
            let n = 0;
            for await (const tok of seq.evaluate(prompt, {temperature: 0, yieldEogToken: true})) {
                if (n === 0) tFirst = performance.now();
                if (n === tg) break;
                n++;
            }
            const tEnd = performance.now();
            res.pp_tps.push(pp / ((tFirst - t0) / 1000));
            res.tg_tps.push(tg / ((tEnd - tFirst) / 1000));
            perfLines.length = 0;
            await context.printTimings();
            await new Promise((r) => setTimeout(r, 50)); // logs arrive asynchronously
            const perf = llamaPerf(perfLines);
            if (perf.pp) res.llama_pp_tps.push(perf.pp);
            if (perf.tg) res.llama_tg_tps.push(perf.tg);
        }, pp + tg + 16, Math.max(pp, 512), true);
    }
    return res;
}

for (const job of req.jobs || []) {
    const r = {op: job.op};
    try {
        switch (job.op) {
        case "info":
            r.llama_cpp_release = llama.llamaCppRelease;
            r.build_type = llama.buildType;
            r.gpu = llama.gpu;
            r.cpu_threads = llama.cpuMathCores;
            r.train_context = model.trainContextSize;
            r.vocab_type = model.vocabularyType;
            r.n_vocab = vocabSize();
            r.bos = model.tokens.bos;
            r.eos = model.tokens.eos;
            r.architecture = model.fileInfo.metadata?.general?.architecture;
            r.size = model.size;
            break;
        case "greedy":
            r.ids = await greedy(job.ids, job.n || 24);
            break;
        case "probs":
            r.probs = await probs(job.ids, job.positions);
            break;
        case "tokenize":
            r.ids = job.texts.map((t) => Array.from(model.tokenize(t, !!job.special)));
            break;
        case "detokenize":
            r.texts = job.ids.map((ids) => model.detokenize(ids, !!job.special));
            break;
        case "bench":
            Object.assign(r, await bench(job.pp || 512, job.tg || 128, job.reps || 1, job.seed));
            break;
        default:
            throw new Error(`unknown op ${job.op}`);
        }
    } catch (e) {
        r.error = String(e && e.message || e);
    }
    out.results.push(r);
}
out.logs = logs.slice(-20);
process.stdout.write(JSON.stringify(out) + "\n");
await model.dispose();
await llama.dispose();
