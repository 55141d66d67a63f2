<?php

declare(strict_types=1);

namespace NotifyRelay\Symfony;

use Symfony\Component\Notifier\Message\MessageOptionsInterface;

/**
 * Who a chat or push message goes to through the relay, and what else the publish carries:
 * `NotifyRelayOptions::user(42)->event('image_ready')->data(['img_url' => '/x.jpg'])`.
 */
final class NotifyRelayOptions implements MessageOptionsInterface
{
    /** @var array<string, mixed> */
    private array $routing = [];
    /** @var array<string, mixed> */
    private array $data = [];

    public static function user(string|int $user): self
    {
        $o = new self();
        $o->routing['user_id'] = (string) $user;
        return $o;
    }

    /** @param list<string|int> $users */
    public static function users(array $users): self
    {
        $o = new self();
        $o->routing['user_ids'] = array_map('strval', array_values($users));
        return $o;
    }

    public static function topic(string $topic): self
    {
        $o = new self();
        $o->routing['topic'] = $topic;
        return $o;
    }

    /** Sets the SSE event name. */
    public function event(string $name): self
    {
        $this->routing['event'] = $name;
        return $this;
    }

    /** @param list<string|int> $users users left out (the one who made the change) */
    public function exclude(array $users): self
    {
        $this->routing['exclude'] = array_map('strval', array_values($users));
        return $this;
    }

    /** Emails the event if the user does not see it live. */
    public function emailFallback(): self
    {
        $this->routing['fallback'] = 'email';
        return $this;
    }

    /** @param array<string, mixed> $data fields subscribers receive besides subject and content */
    public function data(array $data): self
    {
        $this->data = $data + $this->data;
        return $this;
    }

    /** @return array<string, mixed> the publish body without the message's own text */
    public function toArray(): array
    {
        return $this->routing + $this->data;
    }

    public function getRecipientId(): ?string
    {
        return $this->routing['user_id'] ?? null;
    }
}
