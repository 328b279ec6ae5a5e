package dev.strata.dsl

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor

/**
 * How one parameter of a typed kernel is passed: a tensor with what the kernel does with it (its [Tag],
 * from which dependencies are inferred), or a scalar of a Kotlin type. The type parameter is what the
 * kernel's code receives and what a call must supply, so a wrong arity, or a tensor where a scalar
 * belongs, is a compile error:
 *
 * ```
 * object Saxpy : Kernel3<Tensor, Tensor, Float>(Param.input, Param.inout, Param.float) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Tensor, c: Float) {
 *         for (i in 0L until b.elementCount) b.setFloat(i, c * a.getFloat(i) + b.getFloat(i))
 *     }
 * }
 * worker { subWorkers(2) }.use { w ->
 *     val x = w.hostTensor(DType.F32, 8).also { it.fill(1f) }
 *     val y = w.hostTensor(DType.F32, 8)
 *     w.run { submit(sub, Saxpy(x, y, 2f)) }    // Saxpy(x, 2f, y) would not compile: a Float where a Tensor belongs
 *     check(y.getFloat(7) == 2f)
 * }
 * ```
 */
public sealed class Param<T> {
    /** Adds [value] to the task's arguments. */
    internal abstract fun put(args: TaskArgs.Builder, value: T)

    /** Takes this parameter's value from [ctx] at [cursor]'s position, advancing it. */
    internal abstract fun take(ctx: TaskContext, cursor: Cursor): T

    /** How a mismatch names it, e.g. `input tensor`, `float`. */
    internal abstract val description: String

    override fun toString(): String = description

    /** A tensor parameter with [tag]. */
    internal class TensorParam(private val tag: Tag, override val description: String) : Param<Tensor>() {
        override fun put(args: TaskArgs.Builder, value: Tensor) {
            args.add(value, tag)
        }

        override fun take(ctx: TaskContext, cursor: Cursor): Tensor = ctx.tensor(cursor.tensors++)
    }

    /** A scalar parameter, carried as 64 bits by [encode] and [decode]. */
    internal class ScalarParam<T>(override val description: String, private val encode: (T) -> Long, private val decode: (Long) -> T) : Param<T>() {
        override fun put(args: TaskArgs.Builder, value: T) {
            args.scalar(encode(value))
        }

        override fun take(ctx: TaskContext, cursor: Cursor): T = decode(ctx.scalar(cursor.scalars++))
    }

    /** The parameter kinds. */
    public companion object {
        /** A tensor the kernel reads. */
        public val input: Param<Tensor> = TensorParam(Tag.INPUT, "input tensor")

        /** A tensor the kernel writes new contents into. */
        public val output: Param<Tensor> = TensorParam(Tag.OUTPUT, "output tensor")

        /** A tensor the kernel reads, then writes. */
        public val inout: Param<Tensor> = TensorParam(Tag.INOUT, "inout tensor")

        /** A caller-owned tensor the kernel writes into (it outlives the run). */
        public val outputExisting: Param<Tensor> = TensorParam(Tag.OUTPUT_EXISTING, "outputExisting tensor")

        /** A tensor used without dependency tracking (the caller orders it). */
        public val noDep: Param<Tensor> = TensorParam(Tag.NO_DEP, "noDep tensor")

        /** A `Long` scalar. */
        public val long: Param<Long> = ScalarParam("long", { it }, { it })

        /** An `Int` scalar. */
        public val int: Param<Int> = ScalarParam("int", { it.toLong() }, { it.toInt() })

        /** A `Float` scalar (exact: its IEEE bits are carried). */
        public val float: Param<Float> = ScalarParam("float", { it.toRawBits().toLong() }, { Float.fromBits(it.toInt()) })

        /** A `Double` scalar (exact: its IEEE bits are carried). */
        public val double: Param<Double> = ScalarParam("double", { it.toRawBits() }, { Double.fromBits(it) })

        /** A `Boolean` scalar. */
        public val boolean: Param<Boolean> = ScalarParam("boolean", { if (it) 1L else 0L }, { it != 0L })
    }
}

/** Read positions in a task's tensors and scalars while a typed kernel takes its parameters. */
internal class Cursor {
    var tensors = 0
    var scalars = 0
}

/**
 * A typed kernel: a [TaskCallable] whose parameters are declared ([params]) instead of read by index.
 * Use [Kernel0] … [Kernel6]; calling one (`Saxpy(x, y, 2f)`) gives a [KernelCall] to submit.
 *
 * Declared as an `object` (or a class with a no-arg constructor), a kernel crosses into child JVMs and
 * chips by name like any callable; [kernelOf] makes one from a lambda, for threads of this JVM only.
 */
public abstract class TypedKernel internal constructor(internal val params: List<Param<*>>) : TaskCallable {
    /** The default task name of a call: the class's simple name. */
    public open val kernelName: String get() = this::class.simpleName ?: "kernel"

    /** The signature, e.g. `Saxpy(input tensor, inout tensor, float)`. */
    override fun toString(): String = "$kernelName(${params.joinToString()})"

    /** How many tensors and scalars a task of this kernel carries (checked at every call). */
    internal val tensors: Int = params.count { it is Param.TensorParam }
    internal val scalars: Int = params.size - tensors

    /** Runs [body] with a cursor after checking [context] carries what [params] declare. */
    internal inline fun decode(context: TaskContext, body: (Cursor) -> Unit) {
        require(context.args.tensorCount == tensors && context.args.scalarCount == scalars) {
            "kernel $this takes $tensors tensor(s) and $scalars scalar(s) but the task has ${context.args.tensorCount} " +
                "tensor(s) and ${context.args.scalarCount} scalar(s); submit it as a call, e.g. submit(target, $kernelName(…))"
        }
        body(Cursor())
    }

    internal fun bind(vararg values: Any?): KernelCall {
        val b = TaskArgs.Builder()
        @Suppress("UNCHECKED_CAST")
        for (i in params.indices) (params[i] as Param<Any?>).put(b, values[i])
        return KernelCall(this, b.build(), kernelName)
    }
}

/**
 * One call of a kernel with its arguments bound, ready to submit: `submit(sub, Saxpy(x, y, 2f))`, or as
 * a member of a group: `submitGroup(subs) { m -> Scale(parts[m], 2f) }`.
 */
public class KernelCall internal constructor(
    /** What runs: the kernel, or a wrapper of it ([onOneCore]). */
    public val callable: TaskCallable,
    /** The bound arguments, tagged as the kernel declares. */
    public val args: TaskArgs,
    /** The task's name in errors and graphs (the kernel's name unless renamed). */
    public val name: String,
) {
    /** The same call under task name [name]. */
    public fun named(name: String): KernelCall = KernelCall(callable, args, name)

    /**
     * The same call as a chip task that runs the kernel on one core of the chip (of [coreType], else the
     * first):
     *
     * ```
     * object Negate : Kernel1<Tensor>(Param.inout) {
     *     override fun run(ctx: TaskContext, a: Tensor) { for (i in 0L until a.elementCount) a.setInt(i, -a.getInt(i)) }
     * }
     * worker { chipIsolation = Isolation.THREAD; chips(0..0) { cores("aiv", 1) } }.use { w ->
     *     val host = w.hostTensor(DType.I32, 4).also { it.setInt(0, 5) }
     *     val x = w.deviceTensor(0, DType.I32, 4)
     *     w.copyToDevice(x, host)
     *     w.run { submit(chip(0), Negate(x).onOneCore("aiv")) }
     *     w.copyFromDevice(host, x)
     *     check(host.getInt(0) == -5)
     * }
     * ```
     */
    public fun onOneCore(coreType: String? = null): KernelCall = KernelCall(dev.strata.chip.kernel(callable, coreType), args, name)

    override fun toString(): String = "$name $args"
}

/**
 * A typed kernel of 0 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Hello : Kernel0() {
 *     override fun run(ctx: TaskContext) = println("hello from ${ctx.workerPath}")
 * }
 * worker { subWorkers(1) }.use { w -> w.run { submit(sub, Hello()) } }
 * ```
 */
public abstract class Kernel0() : TypedKernel(emptyList()) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(): KernelCall = bind()
}

/** A [Kernel0] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun kernelOf(name: String, body: (TaskContext) -> Unit): Kernel0 =
    object : Kernel0() {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext) = body(ctx)
    }

/**
 * A typed kernel of 1 parameter: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum1 : Kernel1<Tensor>(Param.output) {
 *     override fun run(ctx: TaskContext, a: Tensor) = a.setLong(0, 42L)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum1(out)) }      // Sum1(7L) would not compile
 *     check(out.getLong(0) == 42L)
 * }
 * ```
 */
public abstract class Kernel1<A>(private val pa: Param<A>) : TypedKernel(listOf(pa)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A): KernelCall = bind(a)
}

/**
 * A [Kernel1] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda
 * cannot cross into another; a child JVM rejects it at submit, saying so). [kernelOf] exists for 0 to 6
 * parameters.
 *
 * ```
 * val addOne = kernelOf("add-one", Param.inout) { _, t -> for (i in 0L until t.elementCount) t.setFloat(i, t.getFloat(i) + 1) }
 * worker { subWorkers(1) }.use { w ->
 *     val x = w.hostTensor(DType.F32, 4)
 *     w.run { submit(sub, addOne(x)) }
 *     check(x.getFloat(3) == 1f)
 * }
 * ```
 */
public fun <A> kernelOf(name: String, a: Param<A>, body: (TaskContext, A) -> Unit): Kernel1<A> =
    object : Kernel1<A>(a) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A) = body(ctx, a)
    }

/**
 * A typed kernel of 2 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum2 : Kernel2<Tensor, Long>(Param.output, Param.long) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Long) = a.setLong(0, b)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum2(out, 1L)) }      // Sum2(out) or Sum2(1L, out) would not compile
 *     check(out.getLong(0) == 1L)
 * }
 * ```
 */
public abstract class Kernel2<A, B>(private val pa: Param<A>, private val pb: Param<B>) : TypedKernel(listOf(pa, pb)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A, b: B)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c), pb.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A, b: B): KernelCall = bind(a, b)
}

/** A [Kernel2] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun <A, B> kernelOf(name: String, a: Param<A>, b: Param<B>, body: (TaskContext, A, B) -> Unit): Kernel2<A, B> =
    object : Kernel2<A, B>(a, b) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A, b: B) = body(ctx, a, b)
    }

/**
 * A typed kernel of 3 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum3 : Kernel3<Tensor, Long, Long>(Param.output, Param.long, Param.long) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Long, c: Long) = a.setLong(0, b + c)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum3(out, 1L, 2L)) }      // Sum3(out) or Sum3(1L, out) would not compile
 *     check(out.getLong(0) == 3L)
 * }
 * ```
 */
public abstract class Kernel3<A, B, C>(private val pa: Param<A>, private val pb: Param<B>, private val pc: Param<C>) : TypedKernel(listOf(pa, pb, pc)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A, b: B, c: C)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c), pb.take(context, c), pc.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A, b: B, c: C): KernelCall = bind(a, b, c)
}

/** A [Kernel3] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun <A, B, C> kernelOf(name: String, a: Param<A>, b: Param<B>, c: Param<C>, body: (TaskContext, A, B, C) -> Unit): Kernel3<A, B, C> =
    object : Kernel3<A, B, C>(a, b, c) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A, b: B, c: C) = body(ctx, a, b, c)
    }

/**
 * A typed kernel of 4 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum4 : Kernel4<Tensor, Long, Long, Long>(Param.output, Param.long, Param.long, Param.long) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Long, c: Long, d: Long) = a.setLong(0, b + c + d)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum4(out, 1L, 2L, 3L)) }      // Sum4(out) or Sum4(1L, out) would not compile
 *     check(out.getLong(0) == 6L)
 * }
 * ```
 */
public abstract class Kernel4<A, B, C, D>(private val pa: Param<A>, private val pb: Param<B>, private val pc: Param<C>, private val pd: Param<D>) : TypedKernel(listOf(pa, pb, pc, pd)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A, b: B, c: C, d: D)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c), pb.take(context, c), pc.take(context, c), pd.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A, b: B, c: C, d: D): KernelCall = bind(a, b, c, d)
}

/** A [Kernel4] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun <A, B, C, D> kernelOf(name: String, a: Param<A>, b: Param<B>, c: Param<C>, d: Param<D>, body: (TaskContext, A, B, C, D) -> Unit): Kernel4<A, B, C, D> =
    object : Kernel4<A, B, C, D>(a, b, c, d) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A, b: B, c: C, d: D) = body(ctx, a, b, c, d)
    }

/**
 * A typed kernel of 5 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum5 : Kernel5<Tensor, Long, Long, Long, Long>(Param.output, Param.long, Param.long, Param.long, Param.long) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Long, c: Long, d: Long, e: Long) = a.setLong(0, b + c + d + e)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum5(out, 1L, 2L, 3L, 4L)) }      // Sum5(out) or Sum5(1L, out) would not compile
 *     check(out.getLong(0) == 10L)
 * }
 * ```
 */
public abstract class Kernel5<A, B, C, D, E>(private val pa: Param<A>, private val pb: Param<B>, private val pc: Param<C>, private val pd: Param<D>, private val pe: Param<E>) : TypedKernel(listOf(pa, pb, pc, pd, pe)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A, b: B, c: C, d: D, e: E)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c), pb.take(context, c), pc.take(context, c), pd.take(context, c), pe.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A, b: B, c: C, d: D, e: E): KernelCall = bind(a, b, c, d, e)
}

/** A [Kernel5] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun <A, B, C, D, E> kernelOf(name: String, a: Param<A>, b: Param<B>, c: Param<C>, d: Param<D>, e: Param<E>, body: (TaskContext, A, B, C, D, E) -> Unit): Kernel5<A, B, C, D, E> =
    object : Kernel5<A, B, C, D, E>(a, b, c, d, e) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A, b: B, c: C, d: D, e: E) = body(ctx, a, b, c, d, e)
    }

/**
 * A typed kernel of 6 parameters: implement [run]; call it with its arguments to get a [KernelCall]
 * to submit. Declared as an `object`, it runs in child JVMs and on chips too.
 *
 * ```
 * object Sum6 : Kernel6<Tensor, Long, Long, Long, Long, Long>(Param.output, Param.long, Param.long, Param.long, Param.long, Param.long) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Long, c: Long, d: Long, e: Long, f: Long) = a.setLong(0, b + c + d + e + f)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val out = w.hostTensor(DType.I64, 1)
 *     w.run { submit(sub, Sum6(out, 1L, 2L, 3L, 4L, 5L)) }      // Sum6(out) or Sum6(1L, out) would not compile
 *     check(out.getLong(0) == 15L)
 * }
 * ```
 */
public abstract class Kernel6<A, B, C, D, E, F>(private val pa: Param<A>, private val pb: Param<B>, private val pc: Param<C>, private val pd: Param<D>, private val pe: Param<E>, private val pf: Param<F>) : TypedKernel(listOf(pa, pb, pc, pd, pe, pf)) {
    /** The kernel's code, with its arguments as declared. */
    public abstract fun run(ctx: TaskContext, a: A, b: B, c: C, d: D, e: E, f: F)

    final override fun call(context: TaskContext): Unit = decode(context) { c -> run(context, pa.take(context, c), pb.take(context, c), pc.take(context, c), pd.take(context, c), pe.take(context, c), pf.take(context, c)) }

    /** This kernel called with these arguments, ready to submit. */
    public operator fun invoke(a: A, b: B, c: C, d: D, e: E, f: F): KernelCall = bind(a, b, c, d, e, f)
}

/** A [Kernel6] named [name] from a lambda: for workers whose children are threads of this JVM (a lambda cannot cross into another). */
public fun <A, B, C, D, E, F> kernelOf(name: String, a: Param<A>, b: Param<B>, c: Param<C>, d: Param<D>, e: Param<E>, f: Param<F>, body: (TaskContext, A, B, C, D, E, F) -> Unit): Kernel6<A, B, C, D, E, F> =
    object : Kernel6<A, B, C, D, E, F>(a, b, c, d, e, f) {
        override val kernelName: String get() = name
        override fun run(ctx: TaskContext, a: A, b: B, c: C, d: D, e: E, f: F) = body(ctx, a, b, c, d, e, f)
    }
