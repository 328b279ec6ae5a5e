package dev.strata.nativebind.acl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds CANN's {@code libascendcl.so} the way an installed toolkit is laid out, and only when first asked
 * (nothing native is touched before): the system property {@code strata.ascend.home}, then
 * {@code $ASCEND_HOME_PATH}, each as {@code <home>/lib64} and {@code <home>/<arch>-linux/lib64}; then each
 * directory of {@code $LD_LIBRARY_PATH}; then the dynamic loader's own search by name. The first file that
 * exists is loaded; {@link #candidates()} lists what is tried, for error messages and {@code strata doctor}.
 *
 * <p>Thread-safe. The library stays loaded for the life of the process (a global arena).
 */
public final class AclLibrary {

    private AclLibrary() {}

    /** The runtime library's file name. */
    public static final String ACL = "libascendcl.so";

    /** Holder: initialised (and the library loaded) on first use only. */
    private static final class Loaded {
        static final SymbolLookup LOOKUP = load();
    }

    /** Every path tried, in order, for {@link #ACL}. */
    public static List<Path> candidates() {
        return candidates(ACL);
    }

    /** Every path tried, in order, for the CANN library {@code fileName} (e.g. {@code libhcomm.so}). */
    public static List<Path> candidates(String fileName) {
        List<Path> out = new ArrayList<>();
        String arch = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> System.getProperty("os.arch");
        };
        for (String home : new String[] {System.getProperty("strata.ascend.home"), System.getenv("ASCEND_HOME_PATH")}) {
            if (home == null || home.isBlank()) continue;
            out.add(Path.of(home, "lib64", fileName));
            out.add(Path.of(home, arch + "-linux", "lib64", fileName));
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String dir : ld.split(":")) if (!dir.isBlank()) out.add(Path.of(dir, fileName));
        }
        return out;
    }

    /** The library file that would be loaded, if one of {@link #candidates()} exists. */
    public static Optional<Path> locate() {
        return locate(ACL);
    }

    /** The file {@code fileName} would be loaded from, if one of its {@link #candidates(String)} exists. */
    public static Optional<Path> locate(String fileName) {
        return candidates(fileName).stream().filter(Files::isRegularFile).findFirst();
    }

    /** Loads {@code fileName} from where {@link #locate(String)} finds it, else by the loader's search; null if neither works. */
    public static SymbolLookup loadOrNull(String fileName) {
        try {
            Optional<Path> file = locate(fileName);
            return file.isPresent() ? SymbolLookup.libraryLookup(file.get(), Arena.global()) : SymbolLookup.libraryLookup(fileName, Arena.global());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static SymbolLookup load() {
        SymbolLookup lookup = loadOrNull(ACL);
        if (lookup == null) {
            throw new UnsatisfiedLinkError("cannot load " + ACL + " (tried " + candidates()
                    + ", then the dynamic loader's search). Set ASCEND_HOME_PATH to a CANN install (source its set_env.sh)"
                    + " or -Dstrata.ascend.home");
        }
        return lookup;
    }

    /** The address of {@code symbol} in the ACL runtime; loads the library on first use. */
    static MemorySegment findOrThrow(String symbol) {
        return Loaded.LOOKUP.find(symbol).orElseThrow(() -> new UnsatisfiedLinkError(
                "symbol " + symbol + " is not in " + locate().map(Path::toString).orElse(ACL)
                        + " (an older or newer CANN, or not the ACL runtime?)"));
    }

    /** The ACL runtime's own lookup, for callers that probe optional symbols; loads the library. */
    public static SymbolLookup lookup() {
        return Loaded.LOOKUP;
    }
}
