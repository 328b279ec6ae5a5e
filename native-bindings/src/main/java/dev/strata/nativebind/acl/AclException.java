package dev.strata.nativebind.acl;

/**
 * An ACL call returned an error: {@link #code} with its {@link #codeName} (e.g. {@code 507046
 * ACL_ERROR_RT_STREAM_SYNC_TIMEOUT}), the {@link #operation} that failed, and what the runtime said
 * ({@code aclGetRecentErrMsg()}, read right after the failure; null if it said nothing).
 */
public final class AclException extends RuntimeException {
    private final int code;
    private final String operation;
    private final String recentMessage;

    public AclException(String operation, int code, String recentMessage) {
        super(operation + " failed: " + code + " " + Acl.errorName(code) + " (" + Acl.errorMeaning(code) + ")"
                + (recentMessage == null ? "" : ": " + recentMessage));
        this.code = code;
        this.operation = operation;
        this.recentMessage = recentMessage;
    }

    /** The {@code aclError} code. */
    public int code() {
        return code;
    }

    /** The code's name, e.g. {@code ACL_ERROR_RT_MEMORY_ALLOCATION}, or {@code ACL_ERROR_<code>} for an unknown one. */
    public String codeName() {
        return Acl.errorName(code);
    }

    /** The call that failed, with its arguments where they help (e.g. {@code aclrtMalloc(4096 B)}). */
    public String operation() {
        return operation;
    }

    /** The runtime's own text ({@code aclGetRecentErrMsg}), or null. */
    public String recentMessage() {
        return recentMessage;
    }
}
