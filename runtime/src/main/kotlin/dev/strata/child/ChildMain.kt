package dev.strata.child

import dev.strata.process.ChildSpec
import kotlin.system.exitProcess

/**
 * The entry point of a child worker JVM (DESIGN.md §8). Started by the parent with a [ChildSpec]; it
 * ties its life to the parent's, loads its callables (and, for a next-level child, builds and starts
 * its own [Worker]), reports `INIT_READY` or `INIT_FAILED`, then answers tasks and control requests
 * until `SHUTDOWN`, the sticky shutdown word, or the parent's death.
 *
 * Exit codes: 0 after a shutdown, 1 after a failed start, 70 when the parent is gone.
 */
public object ChildMain {
    @JvmStatic
    public fun main(args: Array<String>) {
        val spec = try {
            ChildSpec.decode(args.single())
        } catch (e: Exception) {
            System.err.println("strata child: bad command line (${e.message}); children are started by Strata, not by hand")
            exitProcess(2)
        }
        exitProcess(ChildLoop(spec).run())
    }
}
