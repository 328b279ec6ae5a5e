package dev.strata.samples

import com.github.ajalt.mordant.animation.progress.advance
import com.github.ajalt.mordant.animation.progress.ThreadProgressTaskAnimator
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
        return withBar(t, label, total.toLong()) { bar -> work { bar.advance(1) } }
    }

    /**
     * Runs [work] under a bar labelled [label] that [work]'s argument sets to `done` of `total` — for work
     * counted elsewhere, such as child JVMs reporting ready ([dev.strata.worker.StartProgress]); it may be
     * called from any thread. Returns what [work] returns; the bar is gone afterwards, whatever happened.
     */
    public fun <T> counting(label: String, work: (update: (done: Int, total: Int) -> Unit) -> T): T {
        val t = terminal ?: return work { _, _ -> }
        return withBar(t, label, null) { bar -> work { done, total -> bar.update { completed = done.toLong(); this.total = total.toLong() } } }
    }

    private fun <T> withBar(t: Terminal, label: String, total: Long?, work: (ThreadProgressTaskAnimator<Unit>) -> T): T {
        val bar = progressBarLayout {
            text(TextStyles.bold(label))
            progressBar()
            completed()
            timeElapsed()
        }.animateOnThread(t, total = total, clearWhenFinished = true)
        val running = bar.execute()
        try {
            return work(bar)
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
