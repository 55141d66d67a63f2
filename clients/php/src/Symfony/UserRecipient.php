<?php

declare(strict_types=1);

namespace NotifyRelay\Symfony;

use Symfony\Component\Notifier\Recipient\RecipientInterface;

/** A recipient known to the relay by user id (a RelayNotification sent to it reaches that user). */
final class UserRecipient implements RecipientInterface
{
    public function __construct(private readonly string|int $userId)
    {
    }

    public function getUserId(): string
    {
        return (string) $this->userId;
    }
}
