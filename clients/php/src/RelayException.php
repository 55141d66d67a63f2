<?php

declare(strict_types=1);

namespace NotifyRelay;

/**
 * A request the relay refused or could not answer.
 *
 * getErrorCode() is the relay's `error` code (`bad_event`, `bad_publish_key`, `rate_limited`,
 * `broker_unavailable`, ...), or `network_error` when no answer came at all; getStatus() is the
 * HTTP status (0 without an answer) and getMessage() the relay's `message`.
 */
class RelayException extends \RuntimeException
{
    public function __construct(
        private readonly string $errorCode,
        string $message,
        private readonly int $status = 0,
        private readonly ?int $retryAfter = null,
        ?\Throwable $previous = null,
        ?int $code = null,
    ) {
        parent::__construct($message, $code ?? $status, $previous);
    }

    /** The relay's `error` code, such as `bad_event`; `network_error` when nothing was answered. */
    public function getErrorCode(): string
    {
        return $this->errorCode;
    }

    /** The HTTP status of the answer, 0 when there was none. */
    public function getStatus(): int
    {
        return $this->status;
    }

    /** The answer's Retry-After in seconds, when it had one (429, 503). */
    public function getRetryAfter(): ?int
    {
        return $this->retryAfter;
    }
}
