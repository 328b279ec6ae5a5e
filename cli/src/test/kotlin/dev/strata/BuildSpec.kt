package dev.strata

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File
import javax.xml.parsers.DocumentBuilderFactory
import org.w3c.dom.Element

private val root: File = generateSequence(File("").absoluteFile) { it.parentFile }.first { File(it, "bom/pom.xml").isFile }

private fun pom(path: String): Element = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(File(root, path)).documentElement

/** The direct children named [tag] of [e]. */
private fun Element.children(tag: String): List<Element> =
    (0 until childNodes.length).map { childNodes.item(it) }.filterIsInstance<Element>().filter { it.tagName == tag }

private fun Element.child(tag: String): Element = children(tag).single()

/** What users build against: the BOM lists every module, at the parent's version. */
class BuildSpec : FunSpec({
    test("the BOM manages every module of the build, at strata-parent's version") {
        val parent = pom("pom.xml")
        val modules = parent.child("modules").children("module").map { it.textContent.trim() }.filter { it != "bom" }
        val artifacts = modules.map { m -> pom("$m/pom.xml").child("artifactId").textContent.trim() }
        val bom = pom("bom/pom.xml")
        bom.child("version").textContent.trim() shouldBe parent.child("version").textContent.trim()
        val managed = bom.child("dependencyManagement").child("dependencies").children("dependency")
        managed.map { it.child("artifactId").textContent.trim() } shouldContainExactlyInAnyOrder artifacts
        for (d in managed) {
            d.child("groupId").textContent.trim() shouldBe "dev.strata"
            d.child("version").textContent.trim() shouldBe "\${project.version}"
        }
    }

    test("every module builds a sources jar (IDEs show Strata's code and KDoc)") {
        val plugins = pom("pom.xml").child("build").child("plugins").children("plugin").map { it.child("artifactId").textContent.trim() }
        plugins.toString() shouldContain "maven-source-plugin"
        plugins.toString() shouldContain "build-helper-maven-plugin" // so src/main/kotlin goes into it
    }
})
