package dev.strata.nativebind.hccl;

import dev.strata.nativebind.acl.AclLibrary;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;

/**
 * Where HCCL's symbols are (loaded on first use, from the same places as the ACL runtime, see
 * {@link dev.strata.nativebind.acl.AclLibrary}): communicator lifecycle in {@code libhcomm.so} first
 * (CANN 8.5+/9.x moved it there), then {@code libhccl.so}; collectives in {@code libhccl.so}.
 */
public final class HcclLibrary {

    private HcclLibrary() {}

    private static final class Loaded {
        static final SymbolLookup HCOMM = AclLibrary.loadOrNull("libhcomm.so");
        static final SymbolLookup HCCL = AclLibrary.loadOrNull("libhccl.so");
    }

    static MemorySegment lifecycle(String symbol) {
        for (SymbolLookup lib : new SymbolLookup[] {Loaded.HCOMM, Loaded.HCCL}) {
            if (lib == null) continue;
            var found = lib.find(symbol);
            if (found.isPresent()) return found.get();
        }
        throw new UnsatisfiedLinkError(symbol + " is in neither libhcomm.so nor libhccl.so (tried "
                + AclLibrary.candidates("libhcomm.so") + " and " + AclLibrary.candidates("libhccl.so") + ")");
    }

    static MemorySegment collective(String symbol) {
        if (Loaded.HCCL == null) {
            throw new UnsatisfiedLinkError("libhccl.so cannot be loaded (tried " + AclLibrary.candidates("libhccl.so") + ")");
        }
        return Loaded.HCCL.find(symbol).orElseThrow(() -> new UnsatisfiedLinkError(symbol + " is not in libhccl.so"));
    }
}
