package dev.strata.mailbox

import dev.strata.testing.waitUntil
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.shouldBe
import java.lang.foreign.Arena
import java.lang.foreign.ValueLayout
import java.lang.management.ManagementFactory
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

private const val SECOND = 1_000_000_000L

class MailboxParkingSpec : FunSpec({
    test("publishing to a peer that never parked makes no wake system call") {
        Arena.ofShared().use { arena ->
            val m = Mailbox.create("m", arena.allocate(MailboxLayout.totalSize(256, 4096), 64), 256, 4096)
            MailboxParking(m, MailboxSide.PARENT).use { parent ->
                repeat(100) {
                    parent.publish(MailboxState.TASK_READY)
                    parent.publish(MailboxState.IDLE)
                }
                parent.wakeCalls.sum() shouldBe 0L
            }
        }
    }

    test("a parked peer is woken by publish, and only then is the wake call made") {
        Arena.ofShared().use { arena ->
            val m = Mailbox.create("m", arena.allocate(MailboxLayout.totalSize(256, 4096), 64), 256, 4096)
            MailboxParking(m, MailboxSide.PARENT).use { parent ->
                val child = CompletableFuture.supplyAsync {
                    MailboxParking(m, MailboxSide.CHILD).use { it.awaitChange(MailboxState.IDLE, spinNanos = 0, timeoutNanos = 10 * SECOND) to it.parks.sum() }
                }
                waitUntil("the child announced it parked") { m.segment.get(ValueLayout.JAVA_INT, MailboxLayout.CHILD_PARKED_OFFSET) == 1 }
                m.dispatchSeq = 7
                parent.publish(MailboxState.TASK_READY)
                val (seen, parks) = child.get(10, TimeUnit.SECONDS)
                seen shouldBe MailboxState.TASK_READY
                parks shouldBeGreaterThan 0L
                parent.wakeCalls.sum() shouldBe 1L
                m.dispatchSeq shouldBe 7L
            }
        }
    }

    test("ping-pong through parked waits loses no wake-up (5,000 round trips, no spinning)") {
        Arena.ofShared().use { arena ->
            val m = Mailbox.create("m", arena.allocate(MailboxLayout.totalSize(256, 4096), 64), 256, 4096)
            val rounds = 5_000
            val child = CompletableFuture.supplyAsync {
                MailboxParking(m, MailboxSide.CHILD).use { c ->
                    var done = 0
                    while (done < rounds) {
                        // The parent may move IDLE -> TASK_READY before this side looks: wait for the state, not a step.
                        var s = m.state()
                        while (s != MailboxState.TASK_READY) s = c.awaitChange(s, 0, 10 * SECOND)
                        m.writeArgs(byteArrayOf(m.readArgs()[0].inc()))
                        c.publish(MailboxState.TASK_DONE)
                        done++
                    }
                    done
                }
            }
            MailboxParking(m, MailboxSide.PARENT).use { p ->
                for (r in 0 until rounds) {
                    m.writeArgs(byteArrayOf(r.toByte()))
                    p.publish(MailboxState.TASK_READY)
                    p.awaitChange(MailboxState.TASK_READY, 0, 10 * SECOND) shouldBe MailboxState.TASK_DONE
                    m.readArgs()[0] shouldBe (r + 1).toByte()
                    p.publish(MailboxState.IDLE)
                }
            }
            child.get(30, TimeUnit.SECONDS) shouldBe rounds
        }
    }

    test("a wait with nothing published ends at its timeout, and a parked waiter uses no CPU") {
        Arena.ofShared().use { arena ->
            val m = Mailbox.create("m", arena.allocate(MailboxLayout.totalSize(256, 4096), 64), 256, 4096)
            val threads = ManagementFactory.getThreadMXBean()
            val result = CompletableFuture.supplyAsync {
                MailboxParking(m, MailboxSide.CHILD).use { c ->
                    val cpu0 = threads.currentThreadCpuTime
                    val start = System.nanoTime()
                    val s = c.awaitChange(MailboxState.IDLE, spinNanos = 50_000, timeoutNanos = SECOND / 2)
                    Triple(s, System.nanoTime() - start, threads.currentThreadCpuTime - cpu0)
                }
            }.get(10, TimeUnit.SECONDS)
            result.first shouldBe MailboxState.IDLE
            result.second shouldBeGreaterThan SECOND / 2 - 1_000_000
            result.third shouldBeLessThan 50_000_000L // well under 10% of the half second waited
        }
    }
})
