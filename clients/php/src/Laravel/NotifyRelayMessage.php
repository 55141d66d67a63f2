<?php

declare(strict_types=1);

namespace NotifyRelay\Laravel;

/**
 * What a notification's `toNotifyRelay($notifiable)` returns: the data subscribers receive, and
 * optionally an SSE event name, email fallback, and users to leave out.
 */
final class NotifyRelayMessage
{
    private ?string $event = null;
    private bool $emailFallback = false;
    /** @var list<string|int> */
    private array $exclude = [];

    /** @param array<string, mixed> $data */
    public function __construct(private array $data = [])
    {
    }

    /** @param array<string, mixed> $data */
    public static function create(array $data = []): self
    {
        return new self($data);
    }

    /** Sets the SSE event name (the browser client's `events` option must list it). */
    public function event(string $name): self
    {
        $this->event = $name;
        return $this;
    }

    /** Emails the event (through the relay's mail worker) if the user does not see it live. */
    public function withEmailFallback(bool $on = true): self
    {
        $this->emailFallback = $on;
        return $this;
    }

    /** @param list<string|int> $users */
    public function exclude(array $users): self
    {
        $this->exclude = $users;
        return $this;
    }

    /**
     * The publish body without its recipients.
     *
     * @return array<string, mixed>
     */
    public function toArray(): array
    {
        return array_filter([
            'event' => $this->event,
            'fallback' => $this->emailFallback ? 'email' : null,
            'exclude' => $this->exclude === [] ? null : $this->exclude,
        ], static fn ($v) => $v !== null) + $this->data;
    }
}
