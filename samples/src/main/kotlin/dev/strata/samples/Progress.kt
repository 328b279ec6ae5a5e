package dev.strata.samples

import com.github.ajalt.mordant.animation.progress.advance
import com.github.ajalt.mordant.animation.progress.animateOnThread
import com.github.ajalt.mordant.animation.progress.execute
import com.github.ajalt.mordant.rendering.TextStyles
import com.github.ajalt.mordant.terminal.Terminal
import com.github.ajalt.mordant.widgets.progress.completed
import com.github.ajalt.mordant.widgets.progress.progressBar
import com.github.ajalt.mordant.widgets.progress.progressBarLayout
import com.github.ajalt.mordant.widgets.progress.text
import com.github.ajalt.mordant.widgets.progress.timeElapsed

/**
 * Progress of long work in a command (sample iterations, bench rounds): a Mordant progress bar while the
 * command's output is an interactive terminal, cleared when the work is done; nothing at all when the
 * output is a file or a pipe, or with `--quiet`. The library itself never reports progress.
 */
public class Progress internal constructor(private val terminal: Terminal?) {
    /** Whether a bar is drawn (an interactive terminal, not `--quiet`). */
    public val shown: Boolean get() = terminal != null

    /**
     * Runs [work], which calls its argument once per finished step of [total], under a bar labelled [label].
     * Returns what [work] returns; the bar is gone afterwards, whatever happened.
     */
    public fun <T> steps(label: String, total: Int, work: (step: () -> Unit) -> T): T {
        val t = terminal ?: return work {}
        val bar = progressBarLayout {
            text(TextStyles.bold(label))
            progressBar()
            completed()
            timeElapsed()
        }.animateOnThread(t, total = total.toLong(), clearWhenFinished = true)
        val running = bar.execute()
        try {
            return work { bar.advance(1) }
        } finally {
            bar.clear()
            running.cancel(true)
        }
    }

    public companion object {
        /** No bar, ever (`--quiet`, tests, output that is not a terminal). */
        public val NONE: Progress = Progress(null)

        /** A bar on [terminal] when it is interactive, else [NONE]. */
        public fun on(terminal: Terminal): Progress = if (terminal.terminalInfo.outputInteractive) Progress(terminal) else NONE
    }
}
