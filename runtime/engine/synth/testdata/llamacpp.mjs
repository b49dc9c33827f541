// Loads GGUF models with llama.cpp (through node-llama-cpp, CPU only),
// tokenizes a prompt and generates greedily, for TestLlamaCpp.
//
// Usage: node llamacpp.mjs NODE_MODULES_PARENT CASES.json
// CASES.json holds [{"name", "path", "prompt", "tokens"}]; the script
// writes one JSON line per case to stdout:
// {"name", "prompt_ids", "generated", "error"}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, casesPath] = process.argv.slice(2);
const { getLlama, LlamaLogLevel } = await import(
    pathToFileURL(join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
for (const c of JSON.parse(readFileSync(casesPath, "utf8"))) {
    const out = { name: c.name, prompt_ids: [], generated: [], error: "" };
    let model;
    try {
        model = await llama.loadModel({ modelPath: c.path, gpuLayers: 0 });
        out.prompt_ids = Array.from(model.tokenize(c.prompt, false));
        const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: 1 });
        const seq = context.getSequence();
        for await (const token of seq.evaluate(out.prompt_ids, { temperature: 0 })) {
            out.generated.push(token);
            if (out.generated.length >= c.tokens) break;
        }
        await context.dispose();
    } catch (e) {
        out.error = String(e && e.message ? e.message : e);
    }
    if (model) await model.dispose();
    process.stdout.write(JSON.stringify(out) + "\n");
}
await llama.dispose();
