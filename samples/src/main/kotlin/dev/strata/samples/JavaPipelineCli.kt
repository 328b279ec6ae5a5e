package dev.strata.samples

import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.choice
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.restrictTo
import dev.strata.worker.Isolation

/**
 * The command line of [JavaPipelineSample] (`strata run java-pipeline --help`): the sample's program is
 * plain Java; its options are the samples' shared Clikt ones ([LaunchOptions]).
 */
internal class JavaPipelineCli : LaunchOptions("strata run java-pipeline", JavaPipelineSample.INSTANCE.description) {
    private val size by option("--size", help = "samples in the signal, ${JavaPipelineSample.BANDS}..${JavaPipelineSample.Options.MAX_SIZE} (default 65536)")
        .int().restrictTo(JavaPipelineSample.BANDS..JavaPipelineSample.Options.MAX_SIZE).default(65_536)
    private val chunks by option("--chunks", help = "chunks of the signal, 1..size (default 16, or size when smaller)").int().restrictTo(min = 1)
    private val frames by option("--frames", help = "frames, 1..10000 (default 4)").int().restrictTo(1..10_000).default(4)
    private val isolation by option("--isolation", help = "where sub workers run: thread (default) or process (child JVMs)")
        .choice("thread" to Isolation.THREAD, "process" to Isolation.PROCESS).default(Isolation.THREAD)

    override fun run() {
        val c = chunks ?: return
        if (c > size) throw UsageError("--chunks must be in 1..size ($size), was $c")
    }

    /** The parsed options. */
    fun options(): JavaPipelineSample.Options = JavaPipelineSample.Options(size, chunks ?: minOf(16, size), frames, isolation, trace)
}
