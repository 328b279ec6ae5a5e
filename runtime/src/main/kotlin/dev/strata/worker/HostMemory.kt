package dev.strata.worker

import dev.strata.shm.SharedMemoryFile
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import java.lang.ref.Cleaner
import java.util.concurrent.ConcurrentHashMap

/**
 * Host memory a worker hands out (`Worker.hostTensor`): plain memory, or — when the worker has child
 * processes, which must map it — a shared-memory file per buffer, unlinked when no view of the buffer is
 * left or when the worker closes. Thread-safe.
 */
internal class HostMemory(private val shared: Boolean) {
    private val sharedFiles = ConcurrentHashMap.newKeySet<SharedMemoryFile>()

    /** A zeroed host buffer; in shared memory (unlinked at close) when the worker has child processes. */
    fun hostBuffer(bytes: Long, label: String, access: Access): Buffer {
        if (!shared) return Buffer.host(bytes, label, access)
        val f = SharedMemoryFile.create(maxOf(bytes, 1), "buffer", gcMapped = true)
        sharedFiles += f
        val buffer = Buffer(bytes, AddressSpace.Host, access, label, f.segment, f.path.toString(), 0)
        // Once no view of the buffer is left (no task can use it any more), its file name goes too.
        CLEANER.register(buffer) {
            sharedFiles.remove(f)
            f.close()
        }
        return buffer
    }

    /** Unlinks every shared file still handed out. */
    fun close() {
        for (f in sharedFiles) f.close()
        sharedFiles.clear()
    }

    private companion object {
        val CLEANER: Cleaner = Cleaner.create()
    }
}
