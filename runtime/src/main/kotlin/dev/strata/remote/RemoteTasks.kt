package dev.strata.remote

import dev.strata.error.ErrorText
import dev.strata.error.TaskFailedException
import dev.strata.process.CallableNames
import dev.strata.task.Runner
import dev.strata.task.TaskArgs
import dev.strata.task.TaskContext
import dev.strata.tensor.Buffer
import dev.strata.tensor.Tensor
import java.lang.foreign.MemorySegment

/**
 * The node's side of a remote task (the transport calls it; see [RemoteLink]): checks callables by
 * stable name and runs a task on the node's own copies of its transfer units.
 */
public object RemoteTasks {
    /**
     * Null when this JVM can run the callable named [callable]; otherwise why not, naming the class
     * (for the caller's admission error). Loads the class without running a static initialiser of a
     * class that is not a callable.
     */
    public fun admissionProblem(callable: String): String? = try {
        CallableNames.resolve(callable)
        null
    } catch (e: ClassNotFoundException) {
        "class ${e.message} is not on its classpath (start the node with the jar that holds it)"
    } catch (e: NoClassDefFoundError) {
        "class ${e.message?.replace('/', '.')} is not on its classpath (start the node with the jar that holds it)"
    } catch (t: Throwable) {
        "${t.javaClass.name}: ${ErrorText.message(t)}"
    }

    /**
     * Runs the task [spec] on this node, its callable seeing [nodePath] as its worker path and [worker] as
     * `ctx.worker`. [units] are the transfer units' bytes (the node's copy; the task reads and writes them
     * in place). Returns, for each argument, the packed bytes to send back ([RemoteArg.returns]; an untracked
     * argument only when the task changed it) or null.
     * Throws [RemoteTaskFailure] when the task failed (its nested path set when a nested run failed); an
     * interrupt (the caller cancelled it) surfaces the same way.
     */
    public fun run(spec: RemoteTaskSpec, units: List<ByteArray>, nodePath: String, worker: Runner?): List<ByteArray?> {
        require(units.size == spec.unitSizes.size) { "${units.size} transfer units for ${spec.unitSizes.size}" }
        val segments = units.mapIndexed { i, b ->
            require(b.size.toLong() == spec.unitSizes[i]) { "transfer unit $i has ${b.size} bytes, ${spec.unitSizes[i]} expected" }
            MemorySegment.ofArray(b)
        }
        val views = spec.args.mapIndexed { i, a ->
            val seg = segments[a.unit]
            Tensor(Buffer.wrap(seg, "remote#${spec.taskId}.unit${a.unit}"), a.byteOffset, a.shape.toLongArray(), a.strides.toLongArray(), a.dtype)
        }
        // An untracked argument comes back only if the task changed it: a NO_DEP read must never write the
        // caller's bytes (other tasks may be writing them, or the buffer may be read-only).
        val before = spec.args.mapIndexed { i, a -> if (a.returns && !a.tag.tracked) packed(views[i]) else null }
        val builder = TaskArgs.Builder()
        views.forEachIndexed { i, v -> builder.add(v, spec.args[i].tag) }
        spec.scalars.forEach { builder.scalar(it) }
        val callable = try {
            CallableNames.resolve(spec.callable)
        } catch (t: Throwable) {
            throw failure(spec, null, t)
        }
        try {
            callable.call(TaskContext(builder.build(), spec.member, spec.groupSize, nodePath, worker))
        } catch (t: TaskFailedException) {
            throw RemoteTaskFailure(t.workerPath, t.taskId, t.taskName, t.errorClass, t.errorMessage, t.errorStack)
        } catch (t: Throwable) {
            throw failure(spec, null, t)
        }
        return spec.args.mapIndexed { i, a ->
            if (!a.returns) return@mapIndexed null
            // An argument that is its whole transfer unit, row-major, is its own packed bytes: no copy.
            val whole = a.byteOffset == 0L && a.packedBytes == spec.unitSizes[a.unit] && Packing.isRowMajor(views[i]) &&
                spec.args.count { it.unit == a.unit } == 1
            val after = if (whole) units[a.unit] else packed(views[i])
            if (before[i]?.contentEquals(after) == true) null else after
        }
    }

    private fun packed(view: Tensor): ByteArray = Packing.gather(view, 0, Math.toIntExact(view.elementCount * view.dtype.byteSize))

    private fun failure(spec: RemoteTaskSpec, path: String?, t: Throwable) =
        RemoteTaskFailure(path, spec.taskId, spec.taskName, t.javaClass.name, ErrorText.message(t), ErrorText.stack(t))
}
