package dev.strata.cluster

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldNotBeInstanceOf
import java.io.ByteArrayOutputStream
import java.io.IOException
import java.net.InetAddress
import java.net.ServerSocket
import kotlin.time.Duration.Companion.seconds

class DataPlaneSpec : FunSpec({
    test("an item fetched in pieces arrives whole and in order; an unknown one is refused with the reason") {
        val bytes = ByteArray(3 * DataPlane.PIECE + 123) { (it * 7).toByte() }
        DataPlane("127.0.0.1", null) { id, item, off, len -> if (id == 42L && item == 1) bytes.copyOfRange(off.toInt(), off.toInt() + len) else null }.use { server ->
            DataPlane("127.0.0.1", null) { _, _, _, _ -> null }.use { client ->
                val got = ByteArrayOutputStream()
                var next = 0L
                client.fetch("127.0.0.1", server.port, 42L, 1, bytes.size.toLong(), 5.seconds) { off, b -> off shouldBe next; next += b.size; got.write(b) }
                got.toByteArray().contentEquals(bytes) shouldBe true
                shouldThrow<DataPlane.Refused> { client.fetch("127.0.0.1", server.port, 7L, 1, 10, 5.seconds) { _, _ -> } }
                    .message shouldContain "request 7 has no item 1"
            }
        }
    }

    test("a member that dies mid-item is a broken connection, not a refusal") {
        ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { fake ->
            val t = Thread {
                fake.accept().use { s ->
                    s.getInputStream().readNBytes(28) // the request
                    val out = java.io.DataOutputStream(s.getOutputStream())
                    out.writeInt(0); out.write(ByteArray(1000)); out.flush() // then gone, 1000 of 5000 bytes sent
                }
            }.apply { isDaemon = true; start() }
            DataPlane("127.0.0.1", null) { _, _, _, _ -> null }.use { client ->
                val e = shouldThrow<IOException> { client.fetch("127.0.0.1", fake.localPort, 1L, 0, 5000, 5.seconds) { _, _ -> } }
                e.shouldNotBeInstanceOf<DataPlane.Refused>()
            }
            t.join(5_000)
        }
    }
})
