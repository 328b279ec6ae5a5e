package dev.strata.nativebind.posix

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

class SysMmanSpec : FunSpec({
    test("an anonymous private mapping is zeroed, writable, and can be unmapped") {
        val size = 1L shl 20
        val p = sys_mman_h.mmap(
            MemorySegment.NULL, size, sys_mman_h.PROT_READ or sys_mman_h.PROT_WRITE,
            sys_mman_h.MAP_PRIVATE or sys_mman_h.MAP_ANONYMOUS or sys_mman_h.MAP_NORESERVE, -1, 0,
        )
        p.address() shouldNotBe sys_mman_h.MAP_FAILED
        val seg = p.reinterpret(size)
        seg.get(ValueLayout.JAVA_LONG, size - 8) shouldBe 0L
        seg.set(ValueLayout.JAVA_LONG, 4096, 42L)
        seg.get(ValueLayout.JAVA_LONG, 4096) shouldBe 42L
        sys_mman_h.munmap(p, size) shouldBe 0
    }
})
