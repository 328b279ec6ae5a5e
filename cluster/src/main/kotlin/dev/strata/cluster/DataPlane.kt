package dev.strata.cluster

import io.github.oshai.kotlinlogging.KotlinLogging
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.IOException
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.security.KeyStore
import java.util.concurrent.ConcurrentHashMap
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLServerSocket
import javax.net.ssl.SSLSocket
import javax.net.ssl.TrustManagerFactory
import kotlin.time.Duration

private val log = KotlinLogging.logger {}

/**
 * Tensor bytes beside Artery (docs/protocol.md, "The data plane"): every member serves the bytes it holds
 * — transfer units on a level-4 program, retained results on a node — on a TCP socket of its own, and a
 * reader fetches a whole item over one connection, in [PIECE]-byte pieces with TCP's own flow control as
 * back-pressure. Artery carries only control messages then (measured: ~10× the bytes/s of 192 KiB chunks
 * through Artery; docs/performance.md). With [tls] the socket speaks TLSv1.3 with mutual authentication
 * from the cluster's own stores, so it admits exactly the members Artery admits; without TLS it binds
 * loopback only (as the member does). A request names a random 64-bit request id, known only to the
 * members of that task.
 *
 * Request: `i64 request id | i32 item | i64 offset | i64 length`. Answer: `i32 status` (0 = the bytes
 * follow, else an i32-length UTF-8 reason follows), then `length` bytes.
 */
internal class DataPlane(
    host: String,
    private val tls: ClusterTls?,
    /** Up to `length` bytes of `item` of `requestId` from `offset`, or null when it has no such bytes. */
    private val source: (requestId: Long, item: Int, offset: Long, length: Int) -> ByteArray?,
) : AutoCloseable {
    private val ssl: SSLContext? = tls?.let { sslContext(it) }
    private val server: ServerSocket = (ssl?.serverSocketFactory?.createServerSocket() ?: ServerSocket()).apply {
        if (this is SSLServerSocket) {
            needClientAuth = true
            enabledProtocols = arrayOf("TLSv1.3")
        }
        bind(InetSocketAddress(InetAddress.getByName(host), 0), 16)
    }
    private val connections = ConcurrentHashMap.newKeySet<Socket>()

    @Volatile
    private var closed = false

    /** The port it serves on. */
    val port: Int = server.localPort

    init {
        Thread({ acceptLoop() }, "strata-data-accept").apply { isDaemon = true; start() }
    }

    private fun acceptLoop() {
        while (!closed) {
            val s = try {
                server.accept()
            } catch (e: IOException) {
                if (!closed) log.warn(e) { "data plane on port $port: accept failed" }
                return
            }
            connections += s
            Thread({ serve(s) }, "strata-data-serve").apply { isDaemon = true; start() }
        }
    }

    private fun serve(s: Socket) {
        try {
            s.use {
                s.tcpNoDelay = true
                val input = DataInputStream(s.getInputStream().buffered())
                val out = DataOutputStream(s.getOutputStream().buffered(PIECE))
                while (!closed) {
                    val requestId = try { input.readLong() } catch (_: IOException) { return }
                    val item = input.readInt()
                    val offset = input.readLong()
                    val length = input.readLong()
                    val first = if (length > 0) source(requestId, item, offset, minOf(PIECE.toLong(), length).toInt()) else ByteArray(0)
                    if (first == null || length < 0) {
                        val reason = "request $requestId has no item $item with bytes [$offset, ${offset + length}) here".toByteArray()
                        out.writeInt(1); out.writeInt(reason.size); out.write(reason); out.flush()
                        continue
                    }
                    out.writeInt(0)
                    var at = 0L
                    var piece: ByteArray = first
                    while (true) {
                        out.write(piece)
                        served.addAndGet(piece.size.toLong())
                        at += piece.size
                        if (at >= length) break
                        piece = source(requestId, item, offset + at, minOf(PIECE.toLong(), length - at).toInt())
                            ?: throw IOException("request $requestId item $item vanished while it was being read") // the reader sees the cut
                    }
                    out.flush()
                }
            }
        } catch (e: Exception) {
            if (!closed) log.debug(e) { "data plane on port $port: a connection ended" }
        } finally {
            connections -= s
        }
    }

    /**
     * Reads [size] bytes of [item] of [requestId] from the member serving at [host]:[port], handing them to
     * [sink] in order, in pieces. Throws [Refused] when the member holds no such bytes, [IOException] naming
     * what failed when the connection does (the member died, or its network); a read that stalls for
     * [timeout] fails.
     */
    fun fetch(host: String, port: Int, requestId: Long, item: Int, size: Long, timeout: Duration, sink: (offset: Long, bytes: ByteArray) -> Unit) =
        read(host, port, requestId, item, size, timeout) { input ->
            var at = 0L
            while (at < size) {
                val piece = ByteArray(minOf(PIECE.toLong(), size - at).toInt())
                input.readFully(piece)
                sink(at, piece)
                at += piece.size
            }
        }

    /** [fetch] of a whole item straight into [dst] (its size), with no piece copied twice. */
    fun fetchInto(host: String, port: Int, requestId: Long, item: Int, dst: ByteArray, timeout: Duration) =
        read(host, port, requestId, item, dst.size.toLong(), timeout) { input ->
            var at = 0
            while (at < dst.size) {
                val n = minOf(PIECE, dst.size - at)
                input.readFully(dst, at, n)
                at += n
            }
        }

    private fun read(host: String, port: Int, requestId: Long, item: Int, size: Long, timeout: Duration, body: (DataInputStream) -> Unit) {
        val s = ssl?.socketFactory?.createSocket() ?: Socket()
        s.use {
            if (s is SSLSocket) s.enabledProtocols = arrayOf("TLSv1.3")
            s.soTimeout = timeout.inWholeMilliseconds.toInt()
            s.tcpNoDelay = true
            s.connect(InetSocketAddress(host, port), timeout.inWholeMilliseconds.toInt())
            val out = DataOutputStream(s.getOutputStream().buffered())
            out.writeLong(requestId); out.writeInt(item); out.writeLong(0); out.writeLong(size); out.flush()
            val input = DataInputStream(s.getInputStream().buffered(PIECE))
            if (input.readInt() != 0) {
                val reason = ByteArray(input.readInt().coerceIn(0, 4096)).also { input.readFully(it) }
                throw Refused("$host:$port: ${String(reason)}")
            }
            body(input)
        }
    }

    override fun close() {
        closed = true
        runCatching { server.close() }
        connections.toList().forEach { runCatching { it.close() } }
    }

    /** The member answered, but holds no such bytes (a request that is over, or results that expired). */
    class Refused(message: String) : IOException(message)

    companion object {
        /** Bytes per read and write: large enough that per-piece costs vanish, small enough to keep memory flat. */
        const val PIECE: Int = 1 shl 20

        /** Bytes every data plane of this JVM served (tests check which path the bytes took). */
        val served = java.util.concurrent.atomic.AtomicLong()

        /** TLSv1.3 with the member's key and trusted certificates (the same stores Artery uses). */
        fun sslContext(tls: ClusterTls): SSLContext {
            fun load(path: java.nio.file.Path, password: String): KeyStore =
                KeyStore.getInstance("PKCS12").apply { Files.newInputStream(path).use { load(it, password.toCharArray()) } }
            val kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).apply {
                init(load(tls.keyStore, tls.keyStorePassword), tls.keyPassword.toCharArray())
            }
            val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply {
                init(load(tls.trustStore, tls.trustStorePassword))
            }
            return SSLContext.getInstance("TLSv1.3").apply { init(kmf.keyManagers, tmf.trustManagers, null) }
        }
    }
}
