package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.subcommands
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.path
import dev.strata.cli.notebook.StrataKernel
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import java.io.File
import java.nio.file.Files
import java.nio.file.Path

/** `strata notebook …`: the Strata Kotlin kernel for Jupyter. */
internal class NotebookCommand(console: Console, env: (String) -> String? = System::getenv) : CliktCommand("notebook") {
    init {
        subcommands(NotebookInstallCommand(console, env), NotebookKernelCommand())
    }

    override fun help(context: Context): String =
        "Kotlin notebooks with Strata: install the Jupyter kernel (Kotlin 2.4 cells, Strata and its samples on the classpath)."

    override fun run() = Unit
}

/**
 * `strata notebook install [--dir DIR] [--name NAME]`: writes the kernelspec (`kernels/NAME/kernel.json`)
 * into Jupyter's data directory — `$JUPYTER_DATA_DIR`, else `~/.local/share/jupyter` — or into [dir]
 * (then name it in `JUPYTER_PATH`). The kernel runs this JDK with this classpath, so install again after
 * moving either. Jupyter itself is not needed to install, only to run notebooks.
 */
internal class NotebookInstallCommand(private val console: Console, private val env: (String) -> String?) : CliktCommand("install") {
    private val dir by option("--dir", metavar = "DIR", help = "a Jupyter data directory to install into (default: \$JUPYTER_DATA_DIR, else ~/.local/share/jupyter)")
        .path(canBeFile = false)
    private val name by option("--name", help = "the kernel's name, which notebooks refer to (default strata-kotlin)").default(KERNEL_NAME)

    override fun help(context: Context): String = "Install the Strata Kotlin kernel for Jupyter (a kernelspec; nothing else is changed)."

    override fun run() {
        val data = dir ?: (env("JUPYTER_DATA_DIR")?.let { Path.of(it) } ?: Path.of(System.getProperty("user.home"), ".local/share/jupyter"))
        val target = data.resolve("kernels").resolve(name)
        Files.createDirectories(target)
        val spec = kernelSpec()
        Files.writeString(target.resolve("kernel.json"), spec)
        console.out.println("strata notebook: installed the kernel '$DISPLAY_NAME' ($name) in $target")
        if (dir != null) console.out.println("  Jupyter finds it with JUPYTER_PATH=${dir!!.toAbsolutePath()}")
        console.out.println("  run a notebook: jupyter nbconvert --to notebook --execute samples/notebooks/allreduce.ipynb --output /tmp/allreduce.ipynb")
        if (!onPath("jupyter")) {
            console.out.println(
                "  Jupyter is not installed here: Debian/Ubuntu: apt install jupyter-notebook (or, to run notebooks only, " +
                    "jupyter-nbconvert python3-nbclient python3-ipykernel)",
            )
        }
    }

    private fun onPath(command: String): Boolean =
        env("PATH").orEmpty().split(File.pathSeparatorChar).any { it.isNotBlank() && File(it, command).canExecute() }

    companion object {
        const val KERNEL_NAME = "strata-kotlin"
        const val DISPLAY_NAME = "Kotlin 2.4 + Strata"

        /**
         * The kernelspec: this JDK's `java` with the options Strata needs, this JVM's classpath (the CLI's
         * jar), and `strata notebook kernel {connection_file}`.
         */
        fun kernelSpec(): String {
            val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
            val options = buildList {
                add("--enable-native-access=ALL-UNNAMED")
                if (Runtime.version().feature() >= 23) add("--sun-misc-unsafe-memory-access=allow") // Pekko and the compiler still call it
                add("-Dkotlin-logging.logStartupMessage=false")
                add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn") // the kernel's console: warnings and errors only
                add("-cp")
                add(System.getProperty("java.class.path").split(File.pathSeparatorChar).filter { it.isNotBlank() }.joinToString(File.pathSeparator) { File(it).absolutePath })
                add("dev.strata.cli.MainKt")
                add("notebook")
                add("kernel")
                add("{connection_file}")
            }
            val spec = buildJsonObject {
                put("display_name", DISPLAY_NAME)
                put("language", "kotlin")
                put("interrupt_mode", "message") // a signal would end the JVM; the kernel interrupts the cell's thread
                put("argv", JsonArray((listOf(java) + options).map(::JsonPrimitive)))
            }
            return Json { prettyPrint = true }.encodeToString(kotlinx.serialization.json.JsonObject.serializer(), spec) + "\n"
        }
    }
}

/** `strata notebook kernel CONNECTION_FILE`: the kernel itself, as Jupyter starts it (see the kernelspec). */
internal class NotebookKernelCommand : CliktCommand("kernel") {
    private val connectionFile by argument(name = "CONNECTION_FILE", help = "the connection file Jupyter wrote").path(mustExist = true, canBeDir = false)

    override fun help(context: Context): String = "Serve one Jupyter connection (Jupyter starts this; see `strata notebook install`)."

    override fun run() = StrataKernel.serve(connectionFile)
}
