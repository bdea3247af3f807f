# streambatch: one static binary for serve, worker and migrate.
# Build: docker build -t streambatch .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/streambatch ./cmd/streambatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/streambatch /usr/local/bin/streambatch
ENV STREAMBATCH_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/streambatch"]
CMD ["serve"]
