package dev.strata.nativebind.posix

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeInRange
import io.kotest.matchers.longs.shouldBeInRange
import io.kotest.matchers.shouldBe
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

private fun sharedWord(arena: Arena): MemorySegment {
    val p = sys_mman_h.mmap(
        MemorySegment.NULL, 4096, sys_mman_h.PROT_READ or sys_mman_h.PROT_WRITE,
        sys_mman_h.MAP_SHARED or sys_mman_h.MAP_ANONYMOUS, -1, 0,
    )
    check(p.address() != sys_mman_h.MAP_FAILED) { "mmap failed" }
    return p.reinterpret(4096, arena) { sys_mman_h.munmap(it, 4096) }
}

private fun timespec(arena: Arena, nanos: Long): MemorySegment = arena.allocate(linux_futex_h.timespec).also {
    it.set(ValueLayout.JAVA_LONG, 0, nanos / 1_000_000_000)
    it.set(ValueLayout.JAVA_LONG, 8, nanos % 1_000_000_000)
}

class ProcessAndFutexSpec : FunSpec({
    test("futex: waking a word nobody waits on wakes nobody") {
        Arena.ofConfined().use { arena ->
            val err = errno_h.allocateCapture(arena)
            val word = sharedWord(arena)
            linux_futex_h.futex(err, word, linux_futex_h.FUTEX_WAKE, 1, MemorySegment.NULL, MemorySegment.NULL, 0) shouldBe 0L
        }
    }

    test("futex: waiting for a value the word does not hold returns EAGAIN at once") {
        Arena.ofConfined().use { arena ->
            val err = errno_h.allocateCapture(arena)
            val word = sharedWord(arena)
            word.set(ValueLayout.JAVA_INT, 0, 7)
            linux_futex_h.futex(err, word, linux_futex_h.FUTEX_WAIT, 0, timespec(arena, 1_000_000_000), MemorySegment.NULL, 0) shouldBe -1L
            errno_h.errno(err) shouldBe errno_h.EAGAIN
        }
    }

    test("futex: a wait with a timeout ends with ETIMEDOUT") {
        Arena.ofConfined().use { arena ->
            val err = errno_h.allocateCapture(arena)
            val word = sharedWord(arena)
            linux_futex_h.futex(err, word, linux_futex_h.FUTEX_WAIT, 0, timespec(arena, 10_000_000), MemorySegment.NULL, 0) shouldBe -1L
            errno_h.errno(err) shouldBe errno_h.ETIMEDOUT
        }
    }

    test("futex: a waiter parked on a shared word is woken by another thread") {
        Arena.ofShared().use { arena ->
            val word = sharedWord(arena)
            val waiter = CompletableFuture.supplyAsync {
                Arena.ofConfined().use { a ->
                    val err = errno_h.allocateCapture(a)
                    var waits = 0
                    while (word.get(ValueLayout.JAVA_INT_UNALIGNED, 0) == 0) {
                        val r = linux_futex_h.futex(err, word, linux_futex_h.FUTEX_WAIT, 0, timespec(a, 5_000_000_000), MemorySegment.NULL, 0)
                        if (r == -1L) (errno_h.errno(err) in setOf(errno_h.EAGAIN, errno_h.EINTR)) shouldBe true // EAGAIN: it changed first
                        waits++
                    }
                    waits
                }
            }
            Thread.sleep(50)
            word.set(ValueLayout.JAVA_INT_UNALIGNED, 0, 1)
            Arena.ofConfined().use { a ->
                val err = errno_h.allocateCapture(a)
                linux_futex_h.futex(err, word, linux_futex_h.FUTEX_WAKE, 1, MemorySegment.NULL, MemorySegment.NULL, 0) shouldBeInRange 0L..1L
            }
            waiter.get(5, TimeUnit.SECONDS) shouldBeInRange 0..2
        }
    }

    test("prctl: the parent-death signal can be set and read back") {
        Arena.ofConfined().use { arena ->
            val err = errno_h.allocateCapture(arena)
            val out = arena.allocate(ValueLayout.JAVA_INT)
            try {
                sys_prctl_h.prctl(err, sys_prctl_h.PR_SET_PDEATHSIG, signal_h.SIGTERM.toLong()) shouldBe 0
                sys_prctl_h.prctl(err, sys_prctl_h.PR_GET_PDEATHSIG, out.address()) shouldBe 0
                out.get(ValueLayout.JAVA_INT, 0) shouldBe signal_h.SIGTERM
            } finally {
                sys_prctl_h.prctl(err, sys_prctl_h.PR_SET_PDEATHSIG, 0) shouldBe 0 // leave the test JVM as it was
            }
            sys_prctl_h.prctl(err, sys_prctl_h.PR_GET_PDEATHSIG, out.address()) shouldBe 0
            out.get(ValueLayout.JAVA_INT, 0) shouldBe 0
        }
    }

    test("kill: signal 0 probes a live process, and a reaped one answers ESRCH") {
        Arena.ofConfined().use { arena ->
            val err = errno_h.allocateCapture(arena)
            signal_h.kill(err, unistd_h.getpid(), 0) shouldBe 0
            val child = ProcessBuilder("true").start()
            child.waitFor(5, TimeUnit.SECONDS) shouldBe true
            signal_h.kill(err, child.pid().toInt(), 0) shouldBe -1
            errno_h.errno(err) shouldBe errno_h.ESRCH
        }
    }
})
