# A small image of the `paystack` binary, for running `paystack drift` on a schedule (the
# image `[drift.schedule]` names; see docs/drift-jobs.md). The configuration is baked in at
# /paystack/config; state lives in each environment's S3 bucket, so the container keeps
# nothing. The compliance function's package is not in it: a drift run compares everything
# but the function's code without it, and `apply` runs where scripts/package-function ran.
#
#   docker build --build-arg PAYSTACK_COMMIT=$(git rev-parse --short=12 HEAD) -t paystack .
#   docker run --rm -e AWS_REGION=us-east-1 paystack drift --env prod --notify

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY crates crates
COPY tests tests
COPY prices prices
# `paystack --version` names the commit; the build context has no .git to read it from.
ARG PAYSTACK_COMMIT=""
RUN cargo build --release --locked -p paystack-cli \
 && strip target/release/paystack

# CA certificates for TLS to AWS, and nothing else: no shell tools the job does not use.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/paystack /usr/local/bin/paystack
COPY config /paystack/config
ENV PAYSTACK_CONFIG=/paystack/config
WORKDIR /paystack
USER nonroot
ENTRYPOINT ["/usr/local/bin/paystack"]
CMD ["--help"]
