// Times prefill and greedy decode in llama.cpp (through node-llama-cpp,
// CPU only) and generates greedily from token ids, for TestVsLlamaCpp.
//
// Usage: node llamacpp_bench.mjs NODE_MODULES_PARENT SPEC.json
// SPEC.json holds {"mode", "path", "threads", "prompts", "tokens"}:
// prompts are token id arrays. Mode "bench" evaluates prompts[0] and
// then decodes tokens tokens one at a time, each the most likely, after
// a short warm-up; it writes {"prefill_ms", "decode_ms", "prefill_cpu_ms",
// "decode_cpu_ms", "generated"}: the times exclude model load, and the CPU
// times are those of all the process's threads. Mode "greedy" writes
// {"generated"}: for each prompt, the tokens greedy decoding picks after
// it. On failure it writes {"error"}. The output is one JSON line on
// stdout.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const [dir, specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const { getLlama, LlamaLogLevel } = await import(
    pathToFileURL(join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

// greedyNext asks for the most likely next token after the last input.
const greedyNext = { generateNext: { token: true, options: { temperature: 0 } } };

// evaluate adds tokens to seq and returns the most likely next token.
async function evaluate(seq, tokens) {
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, greedyNext] : t));
    const out = await seq.controlledEvaluate(input);
    const next = out[tokens.length - 1]?.next?.token;
    if (next == null) throw new Error("llama.cpp returned no next token");
    return next;
}

const out = {};
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: spec.threads });
let model;
try {
    model = await llama.loadModel({ modelPath: spec.path, gpuLayers: 0 });
    const longest = Math.max(...spec.prompts.map((p) => p.length));
    const context = await model.createContext({
        contextSize: longest + spec.tokens + 16,
        batchSize: Math.max(longest, 32),
        threads: { ideal: spec.threads, min: spec.threads },
    });
    const seq = context.getSequence();
    if (spec.mode === "bench") {
        const prompt = spec.prompts[0];
        await evaluate(seq, prompt.slice(0, 16)); // warm-up
        await seq.clearHistory();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let tok = await evaluate(seq, prompt);
        const t1 = performance.now();
        const c1 = process.cpuUsage();
        out.generated = [tok];
        for (let i = 0; i < spec.tokens; i++) {
            tok = await evaluate(seq, [tok]);
            out.generated.push(tok);
        }
        const t2 = performance.now();
        const c2 = process.cpuUsage();
        const cpuMS = (a, b) => (b.user + b.system - a.user - a.system) / 1e3;
        out.prefill_cpu_ms = cpuMS(c0, c1);
        out.decode_cpu_ms = cpuMS(c1, c2);
        out.prefill_ms = t1 - t0;
        out.decode_ms = t2 - t1;
    } else {
        out.generated = [];
        for (const prompt of spec.prompts) {
            await seq.clearHistory();
            const gen = [];
            for await (const token of seq.evaluate(prompt, { temperature: 0 })) {
                gen.push(token);
                if (gen.length >= spec.tokens) break;
            }
            out.generated.push(gen);
        }
    }
    await context.dispose();
} catch (e) {
    out.error = String(e && e.message ? e.message : e);
}
if (model) await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify(out) + "\n");
