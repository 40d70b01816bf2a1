#!/usr/bin/env python3
"""A TLS-terminating TCP proxy in front of a test broker (scripts/tansu.sh start-secure).

tansu 0.6 cannot serve TLS: `tansu broker --cert C --key K` is refused by its command line ("the argument '--cert
<CERT>' cannot be used with '--key <KEY>'": both are in one exclusive clap group, tansu-cli 0.6.0 src/cli/broker.rs),
and the broker builds its TLS acceptor without ever using it (tansu-broker 0.6.0 src/broker.rs,
`let _acceptor = ...`). So the Kafka TLS tests put this in front of it: the client's TLS handshake (server
certificate, host name, client certificate) is real, and the Kafka protocol inside it, SASL included, goes to the
broker unchanged.

Usage: tls-proxy.py LISTEN_PORT UPSTREAM_PORT SERVER_CERT SERVER_KEY CLIENT_CA
Listens on 127.0.0.1:LISTEN_PORT, requires a client certificate signed by CLIENT_CA, forwards to
127.0.0.1:UPSTREAM_PORT. Python's standard library only.
"""

import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, ssl.SSLError, OSError):
            pass


async def handle(client_reader, client_writer, upstream_port):
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


def quiet_handshake_failures(loop, context):
    # Failed handshakes (the negative tests) are expected: keep them out of the log.
    if isinstance(context.get("exception"), (ssl.SSLError, ConnectionError)):
        return
    loop.default_exception_handler(context)


async def main(listen_port, upstream_port, cert, key, client_ca):
    asyncio.get_running_loop().set_exception_handler(quiet_handshake_failures)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = await asyncio.start_server(
        lambda reader, writer: handle(reader, writer, upstream_port), "127.0.0.1", listen_port, ssl=context
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
