package dev.strata

import com.tngtech.archunit.core.domain.JavaClass
import com.tngtech.archunit.core.domain.JavaClasses
import com.tngtech.archunit.core.importer.ClassFileImporter
import com.tngtech.archunit.core.importer.ImportOption
import com.tngtech.archunit.core.importer.Location
import com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices
import dev.strata.tensor.BackEdgeFixture
import io.kotest.core.spec.style.FunSpec
import io.kotest.inspectors.forAll
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldNotBeEmpty
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File

/**
 * The packages of Strata's main code, bottom to top: a package may name only packages before it in
 * this list (its own sub-packages belong to it unless listed themselves). docs/architecture.md draws
 * the same list between its `layers:start` / `layers:end` markers, and a test below holds the two equal.
 */
internal val LAYERS: List<String> = listOf(
    "nativebind", "tensor", "task", "error", "trace", "wait", "shm", "mailbox", "graph", "run", "record",
    "endpoint", "schedule", "chip", "chip.sim", "chip.acl", "process", "remote", "worker", "child",
    "testkit", "dsl", "java", "cluster", "samples", "bench", "cli",
)

private const val ROOT_PACKAGE = "dev.strata"

/** The layer of [packageName] (by the longest listed prefix), or null outside `dev.strata`. */
internal fun layerOf(packageName: String): Int? {
    if (packageName != ROOT_PACKAGE && !packageName.startsWith("$ROOT_PACKAGE.")) return null
    val rest = packageName.removePrefix(ROOT_PACKAGE).removePrefix(".")
    return LAYERS.indices.filter { rest == LAYERS[it] || rest.startsWith(LAYERS[it] + ".") }.maxByOrNull { LAYERS[it].length }
}

/** Every dependency of [classes] on a class of a higher layer (or of an unlisted `dev.strata` package), described. */
internal fun backEdges(classes: JavaClasses): List<String> = classes.flatMap { c: JavaClass ->
    val from = layerOf(c.packageName) ?: return@flatMap listOf("${c.name} is in ${c.packageName}, which LAYERS does not list")
    c.directDependenciesFromSelf.mapNotNull { d ->
        val to = d.targetClass.packageName
        val layer = layerOf(to) ?: return@mapNotNull if (to.startsWith(ROOT_PACKAGE)) "${d.description} (unlisted package $to)" else null
        if (layer > from) "${c.packageName} (layer ${LAYERS[from]}) names ${LAYERS[layer]}: ${d.description}" else null
    }
}.distinct()

/** Main code only: the modules' classes, not their tests (nor the runtime's test jar). */
private object MainCodeOnly : ImportOption {
    override fun includes(location: Location): Boolean =
        !location.contains("/test-classes/") && !location.matches(Regex(".*-tests\\.jar.*").toPattern())
}

private val repoRoot: File = generateSequence(File("").absoluteFile) { it.parentFile }.first { File(it, "docs/architecture.md").isFile }

class LayersSpec : FunSpec({
    val main = ClassFileImporter().withImportOption(MainCodeOnly).importPackages(ROOT_PACKAGE)

    test("the main code of every module is imported") {
        for (p in listOf("nativebind.posix", "tensor", "worker", "child", "dsl", "java", "samples", "bench", "cli")) {
            main.any { it.packageName == "$ROOT_PACKAGE.$p" } shouldBe true
        }
        main.none { it.packageName == "$ROOT_PACKAGE.tensor" && it.simpleName == "BackEdgeFixture" } shouldBe true
    }

    test("a package names only the packages below it (docs/architecture.md, Layers)") {
        backEdges(main).shouldBeEmpty()
    }

    test("the package graph has no cycle") {
        slices().matching("$ROOT_PACKAGE.(**)").should().beFreeOfCycles().check(main)
    }

    test("the check finds a back edge: a tensor class that names the Worker facade") {
        val fixture = ClassFileImporter().importClasses(BackEdgeFixture::class.java)
        val found = backEdges(fixture)
        found.shouldNotBeEmpty()
        found.forAll { it shouldContain "dev.strata.tensor (layer tensor) names worker: " }
    }

    test("docs/architecture.md draws the layers in this order") {
        val doc = File(repoRoot, "docs/architecture.md").readText()
        val block = doc.substringAfter("<!-- layers:start -->").substringBefore("<!-- layers:end -->")
        val drawn = block.lines().map { it.trim() }
            .filter { it.isNotEmpty() && !it.startsWith("```") && !it.startsWith("top") && !it.startsWith("bottom") && !it.startsWith("↑") }
            .map { it.substringBefore(' ') }
        drawn.reversed() shouldBe LAYERS
    }

    test("code bodies name no dev.strata class fully qualified: every dependency shows in the import block") {
        val offenders = File(repoRoot, ".").walkTopDown()
            .onEnter { it.name != "target" && it.name != ".git" && it.name != "test" }
            .filter { it.isFile && (it.extension == "kt" || it.extension == "java") && "/src/main/" in it.path }
            .flatMap { f -> qualifiedNamesInCode(f.readText()).map { "${f.relativeTo(repoRoot)}: $it" } }
            .toList()
        offenders.shouldBeEmpty()
    }

    test("the fully-qualified check sees code and ignores comments, strings and imports") {
        val src = """
            package dev.strata.x
            import dev.strata.y.Imported
            /** See [dev.strata.y.InKdoc]. */
            val a = dev.strata.y.InCode() // dev.strata.y.InComment
            val b = "dev.strata.y.InString"
        """.trimIndent()
        qualifiedNamesInCode(src) shouldBe listOf("dev.strata.y.InCode")
    }
})

/** The `dev.strata…Class` names written in code (not in package/import lines, comments or string literals). */
internal fun qualifiedNamesInCode(source: String): List<String> {
    val code = StringBuilder(source)
    var i = 0
    fun blank(from: Int, to: Int) {
        for (k in from until minOf(to, code.length)) if (code[k] != '\n') code.setCharAt(k, ' ')
    }
    while (i < source.length) {
        i = when {
            source.startsWith("/*", i) -> (source.indexOf("*/", i + 2).takeIf { it >= 0 }?.plus(2) ?: source.length).also { blank(i, it) }
            source.startsWith("//", i) -> (source.indexOf('\n', i).takeIf { it >= 0 } ?: source.length).also { blank(i, it) }
            source.startsWith("\"\"\"", i) -> (source.indexOf("\"\"\"", i + 3).takeIf { it >= 0 }?.plus(3) ?: source.length).also { blank(i, it) }
            source[i] == '"' -> {
                var j = i + 1
                while (j < source.length && source[j] != '"' && source[j] != '\n') j += if (source[j] == '\\') 2 else 1
                (j + 1).also { blank(i, it) }
            }
            else -> i + 1
        }
    }
    return code.lines()
        .filterNot { it.startsWith("package ") || it.startsWith("import ") }
        .flatMap { line -> Regex("""dev\.strata\.(?:[a-z]\w*\.)+[A-Z]\w*""").findAll(line).map { it.value }.toList() }
}
