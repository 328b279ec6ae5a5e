package dev.strata.nativebind.hccl;

/** An HCCL call returned {@link #code} (an {@code HcclResult}); the message has its name and {@code HcclGetErrorString} text. */
public final class HcclException extends RuntimeException {
    private final int code;
    private final String operation;

    public HcclException(String operation, int code, String text) {
        super(operation + " failed: " + code + " " + Hccl.resultName(code) + (text == null ? "" : " (" + text + ")"));
        this.code = code;
        this.operation = operation;
    }

    /** The {@code HcclResult}. */
    public int code() {
        return code;
    }

    /** The call that failed. */
    public String operation() {
        return operation;
    }
}
