# syntax=docker/dockerfile:1
# Images of the compose stack (docker-compose.yml). Two targets:
#   temporal: the Temporal server and its SQL schema tool, built from their Go module with the same
#             pins as scripts/ensure-temporal-server.ts (test/compose.test.ts checks they agree);
#   gateway:  Stormproof (API, workers, mock providers, the namespace setup), run with tsx as in
#             development; the service's command picks the role.

FROM golang:1.26-bookworm AS temporal-build
# The server's go.mod asks for a newer Go than the image has: go fetches this toolchain itself.
ENV GOTOOLCHAIN=go1.27.3 CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN GOBIN=/out go install -trimpath \
      go.temporal.io/server/cmd/server@v1.32.2 \
      go.temporal.io/server/cmd/tools/sql@v1.32.2 \
 && mv /out/server /out/temporal-server \
 && mv /out/sql /out/temporal-sql-tool \
 && /out/temporal-server --version && /out/temporal-sql-tool --version

FROM debian:bookworm-slim AS temporal
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home temporal
COPY --from=temporal-build /out/ /usr/local/bin/
USER temporal
WORKDIR /home/temporal
# Config from the environment (the server's embedded template): see docker-compose.yml.
CMD ["temporal-server", "start"]

FROM node:20-bookworm-slim AS gateway
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY . .
RUN mkdir -p /var/lib/stormproof && chown node:node /var/lib/stormproof
USER node
ENV NODE_ENV=production
EXPOSE 8080 9464
CMD ["node", "--import", "tsx", "api/main.ts"]
