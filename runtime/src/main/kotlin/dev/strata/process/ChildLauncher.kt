package dev.strata.process

import java.nio.file.Path
import java.util.concurrent.Callable
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Starts child JVMs (DESIGN.md §8): the same `java` and classpath as this JVM, native access enabled,
 * the spec as one argument. Every child is started from one long-lived daemon thread: Linux sends a
 * child's parent-death signal when the *thread* that started it ends, so starting children from a
 * caller's thread (a test runner's, a coroutine pool's) would kill them when that thread retires.
 */
internal object ChildLauncher {
    private val launcher: ExecutorService = Executors.newSingleThreadExecutor { r ->
        Thread(r, "strata-launcher").apply { isDaemon = true }
    }

    /** Options every child gets: small, quick to start, and quiet when idle. */
    private val BASE_OPTIONS = listOf(
        "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseSerialGC",
        "-Xss4m",
        "-Xshare:auto",
    )

    val javaExecutable: String =
        Path.of(System.getProperty("java.home"), "bin", "java").toString()

    fun command(spec: ChildSpec, extraOptions: List<String>): List<String> = buildList {
        add(javaExecutable)
        addAll(BASE_OPTIONS)
        addAll(extraOptions)
        add("-cp")
        add(System.getProperty("java.class.path"))
        add(ChildMain::class.java.name)
        add(spec.encode())
    }

    /** Starts the child; its stdout and stderr go to this process's. */
    fun launch(spec: ChildSpec, extraOptions: List<String>): Process {
        val cmd = command(spec, extraOptions)
        return launcher.submit(
            Callable { ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.INHERIT).redirectError(ProcessBuilder.Redirect.INHERIT).start() },
        ).get()
    }
}
