package dev.strata.graph

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.int
import io.kotest.property.checkAll
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.coroutines.yield
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

class SlotPoolSpec : FunSpec({
    test("property: tryAcquireUpTo takes what is free, up to the request, in one step") {
        checkAll(200, Arb.int(0, 40), Arb.int(0, 40), Arb.int(-2, 50)) { capacity, taken, want ->
            val pool = SlotPool(capacity)
            val first = pool.tryAcquireUpTo(taken)
            first shouldBe minOf(capacity, taken)
            val second = pool.tryAcquireUpTo(want)
            second shouldBe if (want <= 0) 0 else minOf(capacity - first, want)
            pool.available shouldBe capacity - first - second
            pool.release(first + second)
            pool.available shouldBe capacity
        }
    }

    test("a waiter sleeps until a slot is released; one that timed out loses nothing") {
        val pool = SlotPool(1)
        pool.tryAcquire() shouldBe true
        runBlocking {
            withTimeoutOrNull(50.milliseconds) { pool.acquire() } shouldBe null // gave up: nobody released
            val waiter = async { pool.acquire() }
            yield() // let it register
            pool.release()
            withTimeout(10.seconds) { waiter.await() } // woken, and it holds the slot now
            pool.available shouldBe 0
            pool.release()
            pool.available shouldBe 1
        }
    }

    test("threads contending on a small pool never hold more slots than it has, and every slot comes back") {
        val pool = SlotPool(3)
        val held = AtomicInteger()
        val most = AtomicInteger()
        val threads = List(4) {
            thread(name = "slot-contender-$it") {
                runBlocking {
                    repeat(5_000) {
                        withTimeout(10.seconds) { pool.acquire() }
                        val now = held.incrementAndGet()
                        most.accumulateAndGet(now) { a, b -> maxOf(a, b) }
                        held.decrementAndGet()
                        pool.release()
                    }
                }
            }
        }
        threads.forEach { it.join(30_000) }
        threads.forEach { it.isAlive shouldBe false }
        most.get() shouldBeLessThanOrEqual 3
        pool.available shouldBe 3
    }
})
