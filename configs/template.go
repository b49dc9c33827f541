package configs

// Template is the commented config file `fomo init` writes. Every value in it
// is the default; the test checks that it decodes to Default().
const Template = `# fomo node configuration.
# Layers: these values → FOMO_* environment variables (FOMO_API_LISTEN sets
# api.listen) → flags (--set api.listen=127.0.0.1:9090). Unknown keys are errors.
version = 1

[node]
# Keys, the datastore and logs live here; relative to the home directory.
# Empty means the home directory itself.
data_dir = ""
# The node's Ed25519 key (its peer ID and account), relative to data_dir.
key_file = "keys/node.key"
# debug | info | warn | error
log_level = "info"
# text | json
log_format = "text"
# Each part of the node gets this long to stop on shutdown.
shutdown_timeout = "10s"
# In-flight responses may run this long after shutdown begins.
stream_grace = "10s"

[api]
# OpenAI-compatible API, admin API (/api/v1/...) and /metrics.
listen = "127.0.0.1:8080"
# Larger request bodies get 413.
max_body_bytes = "4MiB"
# A client gets read_header_timeout to send a request's headers and
# read_timeout to send the whole request; responses (streams) are not cut.
read_header_timeout = "10s"
read_timeout = "1m"
# An idle keep-alive connection is closed after this long.
idle_timeout = "2m"
# At most this many connections at once; more wait to be accepted.
max_conns = 1024
# How often the list of served models is re-read from the runtimes.
model_refresh = "30s"

[auth]
# Every inference request is paid for by an account: clients send
# "Authorization: Bearer fomo_sk_…" (a session key of their account) and get
# a signed receipt back. Requests without a key get 401.
#
# Local account registry (accounts, credit, session keys), relative to
# data_dir; empty means none.
accounts = ""
# A session key that pays for requests without an API key. Development
# networks only: anyone who reaches the API spends its credit.
open_access_key = ""
# Output cap of requests that set no max_tokens.
default_max_tokens = 4096
# How long an authorization this node signs stays valid (at most 10m).
authorization_ttl = "5m"

[p2p]
# The network to join: "devnet" (built in) or the path of a genesis file.
network = "devnet"
# libp2p listen multiaddrs.
listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
# Peers to connect to at start: multiaddrs ending in /p2p/<peer id>.
bootstrap = []
# Connection manager water marks.
conn_low = 100
conn_high = 400
# DHT mode: server | client | auto
dht_mode = "server"
# NAT traversal: AutoNAT v2 reachability checks, hole punching (needs relay
# addresses, so static_relays on the NATed side), UPnP/NAT-PMP port mapping.
autonat = true
hole_punching = true
nat_port_map = true
# Relays to reserve a circuit address on while not publicly reachable.
static_relays = []
# Serve as a circuit relay for others while publicly reachable.
relay_service = false
# Skip reachability detection: "public" (a datacenter host with a routable
# address), "private", or "" to detect.
force_reachability = ""
# Announce a served model to the network only when its issuer-signed manifest
# is in the DHT (fomo model announce) and, for the built-in engine, the local
# weights match the manifest's sha256. Models are served locally either way.
require_manifest = true
# How often this node publishes its signed capacity advert.
advert_interval = "5s"

[chain]
# The settlement chain: an embedded CometBFT node (a validator when the
# chain's validator set names this node's key). Off, accounts and credit
# come from auth.accounts. The network's genesis must name validators.
enabled = false
# CometBFT's configuration and block store, relative to data_dir.
dir = "chain"
# CometBFT's peer-to-peer address.
listen = "tcp://0.0.0.0:26656"
# The host:port other nodes dial; empty advertises the listen address.
external_address = ""
# CometBFT peers, "<node id>@host:port"; more are learned from the network.
peers = []
# Pause after each committed block.
block_interval = "1s"

[gpu]
# Watch NVIDIA GPUs through NVML. Without a driver the node logs one warning
# and serves on CPU.
enabled = true
sample_interval = "5s"

[store]
# pebble (on disk) | memory (lost on exit)
backend = "pebble"
path = "datastore"

# Model runtimes. Each [[runtime]] block adds one backend; uncomment and edit.
#
# An OpenAI-compatible server you run yourself (vLLM, llama.cpp's
# llama-server, SGLang, Ollama):
#
# [[runtime]]
# name = "vllm"
# kind = "openai"
# url = "http://127.0.0.1:8000"
# models = []                 # empty: ask the server (GET /v1/models)
# api_key = ""
# request_timeout = "10m"
# first_byte_timeout = "2m"
# idle_timeout = "2m"
#
# A backend the node starts, restarts and stops itself:
#
# [[runtime]]
# name = "llama"
# kind = "supervise"
# command = ["llama-server", "-m", "/models/model.gguf", "--port", "8001"]
# url = "http://127.0.0.1:8001"
# health_url = "http://127.0.0.1:8001/health"
# gpus = [0]                  # sets CUDA_VISIBLE_DEVICES
# min_free_memory = "20GiB"   # per GPU; refuses to start with less free
# start_timeout = "10m"
# stop_timeout = "15s"
#
# The built-in engine: a pure-Go runtime for llama-family GGUF models on CPU
# (architectures llama and qwen2; F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K).
# A relative model path is resolved against the data dir.
#
# [[runtime]]
# name = "tinyllama"          # the model id clients ask for
# kind = "engine"
# model = "models/tinyllama-1.1b-chat.Q4_K_M.gguf"
# threads = 0                 # 0: one per CPU
# chat_template = ""          # chatml | llama3 | llama2 when the model's is not recognised
# max_queue = 64              # requests waiting beyond this get 503
`
