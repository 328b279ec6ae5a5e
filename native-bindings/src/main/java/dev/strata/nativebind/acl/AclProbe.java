package dev.strata.nativebind.acl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * What {@code strata doctor} learns from one {@code libascendcl.so} file: it loads that file (not the
 * library {@link AclLibrary} would pick), calls {@code aclInit}, and reads the device count, SoC name and
 * runtime version — or says exactly why it could not (the file does not load, a symbol is missing, a
 * call returned an error code, with the runtime's text). Loads native code: only for diagnostics.
 *
 * @param ok          whether every step worked
 * @param deviceCount devices visible to this process (-1 unless ok)
 * @param socName     {@code aclrtGetSocName()} (null unless ok)
 * @param version     {@code aclrtGetVersion()} as {@code major.minor.patch} (null unless ok)
 * @param problem     what went wrong (null when ok)
 */
public record AclProbe(boolean ok, int deviceCount, String socName, String version, String problem) {

    /** Probes the library at {@code file}. Never throws. */
    public static AclProbe of(Path file) {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(file, Arena.global());
        } catch (Throwable e) {
            return failed("it cannot be loaded: " + e.getMessage());
        }
        Linker linker = Linker.nativeLinker();
        String step = "";
        try (Arena a = Arena.ofConfined()) {
            step = "aclInit";
            int rc = (int) handle(lib, linker, "aclInit", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS)).invokeExact(MemorySegment.NULL);
            if (rc != 0 && rc != Acl.ACL_ERROR_REPEAT_INITIALIZE) return failed(callFailed(lib, linker, "aclInit", rc));
            step = "aclrtGetDeviceCount";
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            rc = (int) handle(lib, linker, "aclrtGetDeviceCount", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS)).invokeExact(n);
            if (rc != 0) return failed(callFailed(lib, linker, "aclrtGetDeviceCount", rc));
            step = "aclrtGetSocName";
            MemorySegment soc = (MemorySegment) handle(lib, linker, "aclrtGetSocName", FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
            step = "aclrtGetVersion";
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT, 3);
            rc = (int) handle(lib, linker, "aclrtGetVersion", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS))
                    .invokeExact(v, v.asSlice(4), v.asSlice(8));
            if (rc != 0) return failed(callFailed(lib, linker, "aclrtGetVersion", rc));
            String version = v.getAtIndex(ValueLayout.JAVA_INT, 0) + "." + v.getAtIndex(ValueLayout.JAVA_INT, 1) + "." + v.getAtIndex(ValueLayout.JAVA_INT, 2);
            String socName = soc.equals(MemorySegment.NULL) ? "unknown" : soc.reinterpret(Long.MAX_VALUE).getString(0);
            return new AclProbe(true, n.get(ValueLayout.JAVA_INT, 0), socName, version, null);
        } catch (UnsatisfiedLinkError e) {
            return failed(e.getMessage());
        } catch (Throwable e) {
            return failed(step + " failed: " + e);
        }
    }

    private static AclProbe failed(String problem) {
        return new AclProbe(false, -1, null, null, problem);
    }

    private static MethodHandle handle(SymbolLookup lib, Linker linker, String name, FunctionDescriptor desc) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("it has no symbol " + name + " (not the ACL runtime, or an unsupported CANN)"));
        return linker.downcallHandle(sym, desc);
    }

    private static String callFailed(SymbolLookup lib, Linker linker, String call, int rc) {
        String text = null;
        try {
            MemorySegment p = (MemorySegment) handle(lib, linker, "aclGetRecentErrMsg", FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
            if (!p.equals(MemorySegment.NULL)) text = p.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable ignored) {
            // no text: the code says enough
        }
        return call + " returned " + rc + " " + Acl.errorName(rc) + " (" + Acl.errorMeaning(rc) + ")" + (text == null ? "" : ": " + text);
    }
}
