package epurse.testkit;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints one Surefire-style summary line at the end of the test run, so the count is visible
 * even under {@code mvn -q} (which hides Surefire's own INFO-level summary).
 * Registered through META-INF/services.
 */
public final class SummaryListener implements TestExecutionListener {
    private final AtomicInteger run = new AtomicInteger();
    private final AtomicInteger failed = new AtomicInteger();
    private final AtomicInteger errors = new AtomicInteger();
    private final AtomicInteger skipped = new AtomicInteger();
    private final AtomicInteger disabledOnly = new AtomicInteger();

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        if (id.isTest()) {
            skipped.incrementAndGet();
            disabledOnly.incrementAndGet();
        }
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (!id.isTest()) return;
        run.incrementAndGet();
        switch (result.getStatus()) {
            case FAILED:
                if (result.getThrowable().orElse(null) instanceof AssertionError) failed.incrementAndGet();
                else errors.incrementAndGet();
                break;
            case ABORTED:
                skipped.incrementAndGet();
                break;
            default:
                break;
        }
    }

    @Override
    public void testPlanExecutionFinished(TestPlan plan) {
        // Like Surefire: disabled and assumption-aborted tests count as run and as skipped.
        int disabledOrAborted = skipped.get();
        System.out.printf("Tests run: %d, Failures: %d, Errors: %d, Skipped: %d%n",
                run.get() + disabledOnly.get(), failed.get(), errors.get(), disabledOrAborted);
        System.out.flush();
    }
}
