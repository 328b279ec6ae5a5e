package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipDriver
import dev.strata.chip.ChipDriverFactory
import dev.strata.chip.sim.SimChipDriver
import dev.strata.chip.acl.AclChipDriver
import dev.strata.process.CallableNames

/** Finds the driver a [ChipConfig] names. */
internal object ChipDrivers {
    fun create(name: String): ChipDriver {
        if (name == ChipConfig.SIM) return SimChipDriver()
        if (name == ChipConfig.ACL) return AclChipDriver()
        val loader = Thread.currentThread().contextClassLoader ?: ChipDrivers::class.java.classLoader
        val type = try {
            Class.forName(name, true, loader)
        } catch (e: ClassNotFoundException) {
            throw IllegalArgumentException("chip driver '$name' is neither 'sim', 'acl' nor a class on the classpath", e)
        }
        val instance = runCatching { CallableNames.objectOf(type) }.getOrNull() ?: CallableNames.newInstanceOf(type)
        val factory = instance as? ChipDriverFactory
            ?: throw IllegalArgumentException("chip driver '$name' is not a ChipDriverFactory")
        return factory.create()
    }
}
