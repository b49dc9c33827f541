# fomo node image. Build (from the repository root):
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t fomo .
# Run, with the node's home in a volume; --gpus all (NVIDIA Container
# Toolkit) gives the node the GPUs and NVML:
#   docker run -d --name fomo --gpus all -v fomo:/var/lib/fomo \
#     -p 8080:8080 -p 4001:4001 -p 4001:4001/udp -p 26656:26656 fomo
# See docs/operators.md.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# cgo links NVML's loader (go-nvml opens libnvidia-ml at run time); its
# deprecation warnings are silenced as in the Makefile.
ENV CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
RUN go build -trimpath -ldflags "-s -w -X github.com/fomonet/fomo/node.Version=${VERSION}" -o /out/fomo ./cmd/fomo

FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --user-group --home-dir /var/lib/fomo --create-home --shell /usr/sbin/nologin fomo
COPY --from=build /out/fomo /usr/local/bin/fomo
USER fomo
WORKDIR /var/lib/fomo
# The API listens on every interface inside the container (127.0.0.1 by
# default outside one); publish it only where it should be reached.
ENV FOMO_HOME=/var/lib/fomo FOMO_API_LISTEN=0.0.0.0:8080
VOLUME /var/lib/fomo
# API and /metrics; libp2p over TCP and QUIC; the chain's CometBFT P2P.
EXPOSE 8080/tcp 4001/tcp 4001/udp 26656/tcp
ENTRYPOINT ["fomo"]
CMD ["node", "--home", "/var/lib/fomo"]
